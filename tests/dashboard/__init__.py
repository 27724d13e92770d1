"""The dashboard's API tests: a package, so the stack fixture (package scope) is torn down when they end."""
