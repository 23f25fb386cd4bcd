"""Visibility of the runtime's value types and pure helpers: client/, tests and tools may use them."""

VISIBLE_ABOVE_RUNTIME = [
    "//client:__subpackages__",
    "//runtime:__subpackages__",
    "//tests:__subpackages__",
    "//tools:__subpackages__",
]
