"""Mosquitto configuration generated from the site inventory (`alarm-broker`)."""
