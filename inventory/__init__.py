"""Site inventory: the single validated description of a site (`site.toml`)."""

from stilalarm.inventory.load import InventoryError, load_site, parse_site
from stilalarm.inventory.model import Site

__all__ = ["InventoryError", "Site", "load_site", "parse_site"]
