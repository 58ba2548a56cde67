"""The benchmark harness that runs on each host (importable without Ansible)."""
