"""Decoding what a request carries: images, image URLs (allowlisted), videos."""
