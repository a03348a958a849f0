"""What the tests, the tools and the local server share: the tiny checkpoint, synthetic pictures, loopback helpers."""
