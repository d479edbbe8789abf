"""Site inventory: the single validated description of a site (`site.toml`)."""

from inventory.load import InventoryError, load_site, parse_site
from inventory.model import Site

__all__ = ["InventoryError", "Site", "load_site", "parse_site"]
