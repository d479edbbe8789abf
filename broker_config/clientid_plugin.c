/*
 * stilalarm broker plugin for mosquitto 2.0 (plugin API v5): client ids and publish rates.
 *
 * 1. Client ids. Binds every MQTT client id to its login: a connection is refused unless its
 * client id is the username itself, or the username + SEP + any suffix, where SEP
 * (plugin_opt_separator, rendered from wire/identity.py) is a character that cannot
 * occur in a username. Without this, mosquitto accepts any valid login with any client id and
 * then drops the client that held that id: one desk unit's password with client id `console`
 * cuts the console off from every alarm.
 * One login may also use another form: the login named by plugin_opt_fingerprint_login (the
 * public `enroll` login of a Pi being enrolled) may use a client id of exactly
 * plugin_opt_fingerprint_len lowercase hex digits, its key's fingerprint (wire/enroll.py). No
 * username has that form, so such an id names no other login's client; the acl file's `%c`
 * patterns then give that client the enrolment topics named by its own fingerprint only.
 *
 * It only ever refuses. When the client id fits, it answers MOSQ_ERR_PLUGIN_DEFER and the
 * broker goes on to its password_file check (mosquitto 2.0.11 src/security.c
 * mosquitto_unpwd_check: plugins are loaded, and register their MOSQ_EVT_BASIC_AUTH
 * callback, before security_default.c appends the password-file callback to the same list;
 * the first answer other than DEFER decides). The takeover of an existing session
 * (connect__on_authorised) only happens after that check has passed.
 *
 * 2. Publish rates. A token bucket per LOGIN (username: all connections of a login share it)
 * on the PUBLISHes of logins whose username starts with one of plugin_opt_limited_prefixes
 * (units and people; never the console or the observer): a full bucket holds
 * plugin_opt_publish_burst messages and refills at plugin_opt_publish_rate per second. A
 * PUBLISH without a token is dropped before it is stored or sent to anyone, so one unit's
 * stolen password cannot bury the console under a flood it has to read in Python.
 *
 * Why MOSQ_EVT_MESSAGE (2.0.11 src/handle_publish.c, plugin.c plugin__handle_message): it is
 * called only for a client's own PUBLISH, after the ACL check and before the message is
 * stored or queued. Answering MOSQ_ERR_ACL_DENIED there goes to `process_bad_message`: QoS0 is
 * dropped silently, QoS1 gets a PUBACK (reason 0x87 "not authorized" for MQTT 5; for MQTT
 * 3.1.1 lib/send_mosq.c send__command_with_mid writes no reason code, a plain PUBACK), QoS2
 * a PUBREC; the connection stays up. Any other non-success answer would disconnect the
 * client. Not MOSQ_EVT_ACL_CHECK: mosquitto also asks it for write access when it sends a
 * client's will (src/context.c context__send_will) and, with check_retain_source, when it
 * delivers a retained message (src/retain.c), so a limited unit's "offline" will would be lost.
 *
 * Dropping is safe for a real unit: its outbox keeps every event until the console's receipt
 * and resends it (2 s, then doubling to 30 s; firmware/runtime.py), so an event over the
 * limit is delayed, never lost. The defaults are far above what a unit sends (docs/PROTOCOL.md).
 * While a login is being limited, one log line per plugin_opt_publish_limit_log_s says so,
 * with the username and the count dropped (flushed from MOSQ_EVT_TICK when the flood stops).
 * Memory is one fixed table of plugin_opt_max_logins entries allocated at start; when it is
 * full, a new login is not limited (fail open) and that is logged once.
 *
 * Built by `alarm-broker render` (broker_config/plugin.py) from this file; do not copy a
 * binary around. Options (all required; mosquitto refuses to start without them):
 *   plugin_opt_separator X              one character
 *   plugin_opt_publish_burst N          messages a login may send at once (>= 1)
 *   plugin_opt_publish_rate R           messages per second refilled per login (> 0)
 *   plugin_opt_publish_limit_log_s S    at most one limiting line per login per S seconds
 *   plugin_opt_limited_prefixes a-,b-   comma-separated username prefixes that are limited
 *   plugin_opt_max_logins N             size of the per-login table
 * Optional (both or neither):
 *   plugin_opt_fingerprint_login U      the login that may use a fingerprint as its client id
 *   plugin_opt_fingerprint_len N        how many lowercase hex digits a fingerprint has
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#define USER_MAX 128 /* our usernames are at most 55 characters (wire.messages.ID_PATTERN) */
#define PREFIXES_MAX 4
#define PREFIXES_BUF 128

static mosquitto_plugin_id_t *plugin_id = NULL;
static char separator = '\0';
static char fp_login[USER_MAX] = ""; /* "" = no login may use a fingerprint */
static size_t fp_len = 0;

struct bucket {
	char user[USER_MAX]; /* "" = free slot */
	double tokens;
	double refilled;     /* monotonic seconds */
	double logged;       /* when the last limiting line for this login was written */
	unsigned long dropped; /* since that line */
	unsigned long total;   /* since the broker started */
};

static struct bucket *buckets = NULL;
static size_t max_logins = 0;
static double burst = 0.0, rate = 0.0, log_every = 0.0;
static char prefix_buf[PREFIXES_BUF];
static const char *prefixes[PREFIXES_MAX];
static int prefix_count = 0;
static unsigned long unlogged = 0; /* drops not yet in the log, over all logins */
static double last_scan = 0.0;
static int full_logged = 0;

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
	(void)supported_version_count;
	(void)supported_versions;
	return 5;
}

/* 1 when `id` is `user` or `user` SEP suffix, and `user` itself holds no SEP. */
static int id_belongs_to(const char *id, const char *user)
{
	size_t n = strlen(user);
	if(n == 0 || strchr(user, separator) != NULL){
		return 0;
	}
	if(strncmp(id, user, n) != 0){
		return 0;
	}
	return id[n] == '\0' || id[n] == separator;
}

/* 1 when `user` is the fingerprint login and `id` is exactly fp_len lowercase hex digits. */
static int is_fingerprint_id(const char *id, const char *user)
{
	size_t i;
	if(fp_login[0] == '\0' || strcmp(user, fp_login) != 0 || strlen(id) != fp_len){
		return 0;
	}
	for(i = 0; i < fp_len; i++){
		if(!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'))){
			return 0;
		}
	}
	return 1;
}

static int on_basic_auth(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_basic_auth *ed = event_data;
	const char *id = mosquitto_client_id(ed->client);
	const char *user = ed->username;
	(void)event;
	(void)userdata;

	if(user == NULL || id == NULL){
		mosquitto_log_printf(MOSQ_LOG_WARNING,
				"stilalarm-clientid: refused a connection without a username (client id '%s')",
				id ? id : "");
		return MOSQ_ERR_AUTH;
	}
	if(id_belongs_to(id, user) || is_fingerprint_id(id, user)){
		return MOSQ_ERR_PLUGIN_DEFER; /* the password file decides */
	}
	mosquitto_log_printf(MOSQ_LOG_WARNING,
			"stilalarm-clientid: refused user '%s' with client id '%s': a client id must be "
			"the username or start with the username followed by '%c'",
			user, id, separator);
	return MOSQ_ERR_AUTH;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int is_limited(const char *user)
{
	int i;
	for(i = 0; i < prefix_count; i++){
		if(strncmp(user, prefixes[i], strlen(prefixes[i])) == 0){
			return 1;
		}
	}
	return 0;
}

/* The bucket of `user` (a new full one on first sight), or NULL: table full or name too long. */
static struct bucket *bucket_of(const char *user, double now)
{
	size_t n = strlen(user), i, slot;
	unsigned long h = 2166136261UL; /* FNV-1a */

	if(n >= USER_MAX){
		return NULL;
	}
	for(i = 0; i < n; i++){
		h = (h ^ (unsigned char)user[i]) * 16777619UL;
	}
	for(i = 0; i < max_logins; i++){
		slot = (h + i) % max_logins;
		if(buckets[slot].user[0] == '\0'){
			memcpy(buckets[slot].user, user, n + 1);
			buckets[slot].tokens = burst;
			buckets[slot].refilled = now;
			buckets[slot].logged = now - log_every; /* the first drop is logged at once */
			return &buckets[slot];
		}
		if(strcmp(buckets[slot].user, user) == 0){
			return &buckets[slot];
		}
	}
	return NULL;
}

static void report(struct bucket *b, double now)
{
	mosquitto_log_printf(MOSQ_LOG_WARNING,
			"stilalarm-ratelimit: login '%s' is over its publish limit (burst %.0f, %g/s): "
			"dropped %lu message(s) since the last report, %lu in total (QoS1 ones were PUBACKed; "
			"a real unit resends its events until the console's receipt)",
			b->user, burst, rate, b->dropped, b->total);
	unlogged -= b->dropped;
	b->dropped = 0;
	b->logged = now;
}

static int on_message(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_message *ed = event_data;
	const char *user = mosquitto_client_username(ed->client);
	struct bucket *b;
	double now;
	(void)event;
	(void)userdata;

	if(user == NULL || !is_limited(user)){
		return MOSQ_ERR_SUCCESS;
	}
	now = now_s();
	b = bucket_of(user, now);
	if(b == NULL){
		if(!full_logged){
			full_logged = 1;
			mosquitto_log_printf(MOSQ_LOG_WARNING,
					"stilalarm-ratelimit: login '%s' is not limited: the table of %lu logins is full "
					"or the name is too long; raise plugin_opt_max_logins (render again)",
					user, (unsigned long)max_logins);
		}
		return MOSQ_ERR_SUCCESS; /* fail open */
	}
	b->tokens += (now - b->refilled) * rate;
	if(b->tokens > burst){
		b->tokens = burst;
	}
	b->refilled = now;
	if(b->tokens >= 1.0){
		b->tokens -= 1.0;
		return MOSQ_ERR_SUCCESS;
	}
	b->dropped++;
	b->total++;
	unlogged++;
	if(now - b->logged >= log_every){
		report(b, now);
	}
	return MOSQ_ERR_ACL_DENIED; /* dropped; QoS1 PUBACKed, connection kept (see the top) */
}

/* At most once a second: log the drops of logins that stopped flooding before their next line. */
static int on_tick(int event, void *event_data, void *userdata)
{
	size_t i;
	double now;
	(void)event;
	(void)event_data;
	(void)userdata;

	if(unlogged == 0){
		return MOSQ_ERR_SUCCESS;
	}
	now = now_s();
	if(now - last_scan < 1.0){
		return MOSQ_ERR_SUCCESS;
	}
	last_scan = now;
	for(i = 0; i < max_logins; i++){
		if(buckets[i].dropped > 0 && now - buckets[i].logged >= log_every){
			report(&buckets[i], now);
		}
	}
	return MOSQ_ERR_SUCCESS;
}

/* A positive finite number from option `key`, or -1 with an error logged. */
static double positive(const char *key, const char *value)
{
	char *end = NULL;
	double v = value ? strtod(value, &end) : 0.0;
	if(value == NULL || end == value || *end != '\0' || !isfinite(v) || v <= 0.0){
		mosquitto_log_printf(MOSQ_LOG_ERR,
				"stilalarm-ratelimit: plugin_opt_%s must be a positive number, not '%s'; render the "
				"config with `alarm-broker render`", key, value ? value : "");
		return -1.0;
	}
	return v;
}

static int set_prefixes(const char *value)
{
	char *save = NULL, *tok;
	if(value == NULL || strlen(value) >= PREFIXES_BUF){
		return 0;
	}
	strcpy(prefix_buf, value);
	prefix_count = 0;
	for(tok = strtok_r(prefix_buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)){
		if(prefix_count == PREFIXES_MAX){
			return 0;
		}
		prefixes[prefix_count++] = tok;
	}
	return prefix_count > 0;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
		struct mosquitto_opt *options, int option_count)
{
	int i;
	(void)userdata;

	for(i = 0; i < option_count; i++){
		if(strcmp(options[i].key, "separator") == 0){
			if(options[i].value == NULL || strlen(options[i].value) != 1){
				mosquitto_log_printf(MOSQ_LOG_ERR,
						"stilalarm-clientid: plugin_opt_separator must be exactly one character");
				return MOSQ_ERR_INVAL;
			}
			separator = options[i].value[0];
		}else if(strcmp(options[i].key, "fingerprint_login") == 0){
			if(options[i].value == NULL || options[i].value[0] == '\0'
					|| strlen(options[i].value) >= USER_MAX){
				mosquitto_log_printf(MOSQ_LOG_ERR,
						"stilalarm-clientid: plugin_opt_fingerprint_login must be a username");
				return MOSQ_ERR_INVAL;
			}
			strcpy(fp_login, options[i].value);
		}else if(strcmp(options[i].key, "fingerprint_len") == 0){
			double v = positive(options[i].key, options[i].value);
			fp_len = v >= 8.0 && v <= 128.0 ? (size_t)v : 0;
		}else if(strcmp(options[i].key, "publish_burst") == 0){
			burst = positive(options[i].key, options[i].value);
		}else if(strcmp(options[i].key, "publish_rate") == 0){
			rate = positive(options[i].key, options[i].value);
		}else if(strcmp(options[i].key, "publish_limit_log_s") == 0){
			log_every = positive(options[i].key, options[i].value);
		}else if(strcmp(options[i].key, "max_logins") == 0){
			double v = positive(options[i].key, options[i].value);
			max_logins = v >= 1.0 && v <= 1e6 ? (size_t)v : 0;
		}else if(strcmp(options[i].key, "limited_prefixes") == 0){
			if(!set_prefixes(options[i].value)){
				mosquitto_log_printf(MOSQ_LOG_ERR,
						"stilalarm-ratelimit: plugin_opt_limited_prefixes must be 1 to %d "
						"comma-separated prefixes", PREFIXES_MAX);
				return MOSQ_ERR_INVAL;
			}
		}
	}
	if(burst < 1.0 || rate <= 0.0 || log_every <= 0.0 || max_logins == 0 || prefix_count == 0){
		mosquitto_log_printf(MOSQ_LOG_ERR,
				"stilalarm-ratelimit: plugin_opt_publish_burst (>= 1), plugin_opt_publish_rate, "
				"plugin_opt_publish_limit_log_s, plugin_opt_max_logins (1 to 1000000) and "
				"plugin_opt_limited_prefixes are required; render the config with `alarm-broker render`");
		return MOSQ_ERR_INVAL;
	}
	if(separator == '\0'){
		mosquitto_log_printf(MOSQ_LOG_ERR,
				"stilalarm-clientid: plugin_opt_separator is missing; render the config with "
				"`alarm-broker render`");
		return MOSQ_ERR_INVAL;
	}
	if((fp_login[0] == '\0') != (fp_len == 0)){
		mosquitto_log_printf(MOSQ_LOG_ERR,
				"stilalarm-clientid: plugin_opt_fingerprint_login and plugin_opt_fingerprint_len "
				"(8 to 128) go together; render the config with `alarm-broker render`");
		return MOSQ_ERR_INVAL;
	}
	buckets = calloc(max_logins, sizeof(*buckets));
	if(buckets == NULL){
		mosquitto_log_printf(MOSQ_LOG_ERR, "stilalarm-ratelimit: out of memory for %lu logins",
				(unsigned long)max_logins);
		return MOSQ_ERR_NOMEM;
	}
	plugin_id = identifier;
	mosquitto_log_printf(MOSQ_LOG_NOTICE,
			"stilalarm-clientid: client ids are bound to usernames (separator '%c')", separator);
	mosquitto_log_printf(MOSQ_LOG_NOTICE,
			"stilalarm-ratelimit: PUBLISHes of logins starting with %s%s%s%s%s%s%s are limited to "
			"a burst of %.0f and %g/s per login", prefixes[0],
			prefix_count > 1 ? ", " : "", prefix_count > 1 ? prefixes[1] : "",
			prefix_count > 2 ? ", " : "", prefix_count > 2 ? prefixes[2] : "",
			prefix_count > 3 ? ", " : "", prefix_count > 3 ? prefixes[3] : "", burst, rate);
	if(mosquitto_callback_register(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, NULL)
			|| mosquitto_callback_register(plugin_id, MOSQ_EVT_MESSAGE, on_message, NULL, NULL)
			|| mosquitto_callback_register(plugin_id, MOSQ_EVT_TICK, on_tick, NULL, NULL)){
		return MOSQ_ERR_UNKNOWN;
	}
	return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
	(void)userdata;
	(void)options;
	(void)option_count;
	if(plugin_id != NULL){
		mosquitto_callback_unregister(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
		mosquitto_callback_unregister(plugin_id, MOSQ_EVT_MESSAGE, on_message, NULL);
		mosquitto_callback_unregister(plugin_id, MOSQ_EVT_TICK, on_tick, NULL);
	}
	free(buckets);
	buckets = NULL;
	return MOSQ_ERR_SUCCESS;
}
