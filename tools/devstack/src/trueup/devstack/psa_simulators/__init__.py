"""Simulators of the ConnectWise PSA, Autotask and HaloPSA APIs holding a demo MSP.

Each module has `create_app(config)` and runs on its own:
`python -m trueup.devstack.psa_simulators.connectwise --port 8101` (Autotask 8102, Halo 8103).
"""
