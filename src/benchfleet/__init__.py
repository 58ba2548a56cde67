"""benchfleet: MLPerf Inference on fleets of hosts, driven by Ansible."""

__version__ = "0.1.0"
