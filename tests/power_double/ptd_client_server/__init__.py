"""benchfleet's test double of MLCommons' power client and server (tests/power_double): NOT MLCommons' code."""
