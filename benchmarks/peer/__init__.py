"""The peer of `make bench`: Django REST framework with djangorestframework-api-key's HasAPIKey.

Runs only in the throwaway venv `make bench` creates (build/bench-peer-venv),
never in ours: DRF and the library are no dependency of the project.
"""
