"""The bare reference of `make bench`: one Django view behind one middleware, no database."""
