"""Stage `validate`: parse all of params.yaml; an unknown, ill-typed, out-of-range or
duplicated key fails here, before any work."""

from common import setup

if __name__ == "__main__":
    setup("validate")
