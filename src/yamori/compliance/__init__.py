"""Compliance frameworks as data: controls, titles, sections; mapped to policies by id."""
