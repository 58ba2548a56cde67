"""Clouds: one provider per cloud (aws, azure, gcp, ovh, oci, alibaba) behind one interface (base), the fleet
operations over them (provision, teardown, reap) and instance prices."""
