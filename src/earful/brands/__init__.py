"""Brands: the companies a team listens for and answers as."""
