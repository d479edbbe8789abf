"""Enrolment of a desk unit, the parts both sides share: the public login, the pairing code, the seal.

A fresh Pi makes an X25519 key pair. Its enrolment topics are named by the key's fingerprint (the
SHA-256 of its public key, first 16 bytes in hex): `enroll/<fingerprint>/request|reply`. Its MQTT
client id is that fingerprint alone, so on mosquitto the ACL's per-client-id `pattern` lines (`%c`)
give it its own request and reply topics only; the broker plugin lets the `enroll` login (and only
it) use such an id. On the cluster profile (NATS 2.9, no `%c`) any enrolling Pi may write any
`enroll/+/request`, so the console takes a request only when its key's fingerprint is the one in
its topic (`key_matches_topic`): posting under another Pi's fingerprint cannot get a reply sealed
to one's own key. Enrolment protocol 2 (issue 18); protocol 1 used `enroll.<fingerprint>` as the
client id and topic level, which NATS refuses (a `.` in a topic). The short code it shows (on its
console and blinked on the LED) is derived from the same public key: when facilities approve that
code they approve that key (pairing), and the console seals the unit's credentials to it with a
NaCl sealed box (X25519 + XSalsa20-Poly1305), which only the Pi's private key opens.

The derivation functions are pure (no clock, no I/O, no randomness); `new_key` and `seal` use
libsodium's randomness. docs/ENROLLMENT.md has the protocol, docs/SECURITY.md its threat model.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

ENROLL_USER = "enroll"
"""The MQTT login a Pi uses before it is enrolled; its ACL gives it nothing but its own enrolment topics."""
ENROLL_PASSWORD = "stilalarm-enroll-public"
"""Not a secret: published in the package and the docs. What protects enrolment is the approval of
the code and the seal, not this password (docs/SECURITY.md); it only keeps anonymous clients out."""
CODE_DIGITS = 6
FINGERPRINT_BYTES = 16
FINGERPRINT_RE = re.compile(rf"^[0-9a-f]{{{2 * FINGERPRINT_BYTES}}}$")
"""A fingerprint as it names an enrolment topic and client id: 32 lowercase hex digits."""
_CODE_DOMAIN = b"stilalarm-enroll-code-v1\0"


class EnrollKeyError(ValueError):
    """A public key, code or sealed answer that is not what it should be; the message says why."""


def decode_public_key(b64: str) -> bytes:
    """The 32 raw bytes of a base64 X25519 public key, or EnrollKeyError."""
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise EnrollKeyError("the public key is not base64") from None
    if len(raw) != 32:
        raise EnrollKeyError(f"the public key has {len(raw)} bytes, not 32")
    return raw


def fingerprint(public_key: bytes) -> str:
    """The key's fingerprint: SHA-256, first 16 bytes, lowercase hex (32 characters)."""
    return hashlib.sha256(public_key).hexdigest()[: 2 * FINGERPRINT_BYTES]


def is_fingerprint(text: str) -> bool:
    """Whether `text` has the form of a fingerprint (32 lowercase hex digits)."""
    return FINGERPRINT_RE.match(text) is not None


def enroll_client_id(public_key: bytes) -> str:
    """The MQTT client id of the Pi holding this key: its fingerprint alone (valid on mosquitto,
    where the plugin allows it for the `enroll` login only, and on NATS: no `.`)."""
    return fingerprint(public_key)


def key_matches_topic(public_key: bytes, topic_fingerprint: str) -> bool:
    """Whether a request's key is the one its topic is named by (the console's check)."""
    return fingerprint(public_key) == topic_fingerprint


def short_code(public_key: bytes) -> str:
    """The pairing code of a key: 6 decimal digits (a domain-separated SHA-256, reduced mod 10^6)."""
    digest = hashlib.sha256(_CODE_DOMAIN + public_key).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 10**CODE_DIGITS:0{CODE_DIGITS}d}"


def show_code(code: str) -> str:
    """How a code is shown to people: `123-456`."""
    return f"{code[:3]}-{code[3:]}"


def normalize_code(text: str) -> str:
    """A code as typed (`123-456`, `123 456`, `123456`) in its canonical form, or EnrollKeyError."""
    digits = "".join(ch for ch in text if ch not in " -")
    if len(digits) != CODE_DIGITS or not digits.isdigit() or not digits.isascii():
        raise EnrollKeyError(f"{text!r} is not a code: give the {CODE_DIGITS} digits the unit shows")
    return digits


# ------------------------------------------------------------------ the LED's blink code

SHORT_S = 0.3
"""One flash of a digit, and the dark between two flashes."""
DIGIT_GAP_S = 1.5
"""Dark between two digits."""
START_S = 2.0
"""The long flash that starts each repetition (and tells "enrolling" apart from any run-time pattern)."""
REPEAT_GAP_S = 4.0
"""Dark after the last digit, before the code starts again."""


def blink_plan(code: str) -> list[tuple[bool, float]]:
    """One repetition of the LED's blink code, as (on, seconds) steps.

    A 2 s flash, then each digit as that many short flashes (0 as ten), 1.5 s dark between digits,
    4 s dark at the end. Nothing the running unit shows has a 2 s flash followed by short ones.
    """
    steps: list[tuple[bool, float]] = [(True, START_S), (False, DIGIT_GAP_S)]
    for i, ch in enumerate(code):
        n = int(ch) or 10
        for k in range(n):
            steps.append((True, SHORT_S))
            steps.append((False, SHORT_S if k < n - 1 else 0.0))
        last = steps.pop()
        steps.append((False, last[1] + (DIGIT_GAP_S if i < len(code) - 1 else REPEAT_GAP_S)))
    return steps


# ------------------------------------------------------------------ keys and the seal


@dataclass(frozen=True)
class EnrollKey:
    """The Pi's key pair for one enrolment attempt (kept in memory only)."""

    private: PrivateKey

    @property
    def public_bytes(self) -> bytes:
        return bytes(self.private.public_key)

    @property
    def public_b64(self) -> str:
        return base64.b64encode(self.public_bytes).decode("ascii")

    @property
    def code(self) -> str:
        return short_code(self.public_bytes)

    @property
    def fingerprint(self) -> str:
        """Names this Pi's enrolment topics."""
        return fingerprint(self.public_bytes)

    @property
    def client_id(self) -> str:
        return enroll_client_id(self.public_bytes)

    def open(self, sealed_b64: str) -> bytes:
        """The plaintext of an answer sealed to this key, or EnrollKeyError."""
        try:
            return SealedBox(self.private).decrypt(base64.b64decode(sealed_b64, validate=True))
        except (CryptoError, binascii.Error, ValueError):
            raise EnrollKeyError("the answer cannot be opened with this unit's key") from None


def new_key() -> EnrollKey:
    """A fresh key pair (libsodium's randomness)."""
    return EnrollKey(PrivateKey.generate())


def seal(public_key: bytes, plaintext: bytes) -> str:
    """`plaintext` in a sealed box to `public_key`, base64: only the private key's holder can read it."""
    return base64.b64encode(SealedBox(PublicKey(public_key)).encrypt(plaintext)).decode("ascii")
