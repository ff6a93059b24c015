"""Stage `validate`: parse all of params.yaml; an unknown or ill-typed key fails here."""

from common import setup

if __name__ == "__main__":
    setup("validate")
