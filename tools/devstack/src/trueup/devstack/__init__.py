"""The development stack: the embedded runtime behind `./task up` and the PSA and vendor
simulators holding a demo MSP. No service depends on it; no service image contains it."""
