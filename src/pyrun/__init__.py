"""pyrun: an OCI container runtime with runc's command line."""

__version__ = "0.1.0"
# The OCI runtime specification version this runtime implements.
OCI_VERSION = "1.0.2"
