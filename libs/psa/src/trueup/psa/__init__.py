"""PSA clients (ConnectWise PSA, Autotask, HaloPSA) behind one `PsaClient` interface.

Their simulators are the development stack's (`trueup.devstack.psa_simulators`).
"""

from trueup.psa.autotask import AutotaskClient, AutotaskCredentials
from trueup.psa.base import PsaClient, RetryPolicy
from trueup.psa.connectwise import ConnectWiseClient, ConnectWiseCredentials
from trueup.psa.errors import (
    PsaAuthError,
    PsaConflict,
    PsaError,
    PsaNotFound,
    PsaRateLimited,
    PsaRequestError,
    PsaResponseError,
    PsaServerError,
    PsaTimeout,
    PsaTransientError,
    PsaUnsupported,
)
from trueup.psa.factory import (
    PsaCredentials,
    create_client,
    credentials_from_dict,
    credentials_to_dict,
)
from trueup.psa.halo import HaloClient, HaloCredentials
from trueup.psa.models import (
    Capabilities,
    LineItemRef,
    PsaAccount,
    PsaBillingCycle,
    PsaContract,
    PsaContractStatus,
    PsaKind,
    PsaLineItem,
    PsaProduct,
    RecordWritten,
    WriteResult,
)
from trueup.psa.registry import PSAS, PsaPlugin, psa_plugin
from trueup.psa.snapshot import SnapshotBatch, active_snapshot

__all__ = [
    "PSAS",
    "AutotaskClient",
    "AutotaskCredentials",
    "Capabilities",
    "ConnectWiseClient",
    "ConnectWiseCredentials",
    "HaloClient",
    "HaloCredentials",
    "LineItemRef",
    "PsaAccount",
    "PsaAuthError",
    "PsaBillingCycle",
    "PsaClient",
    "PsaConflict",
    "PsaContract",
    "PsaContractStatus",
    "PsaCredentials",
    "PsaError",
    "PsaKind",
    "PsaLineItem",
    "PsaNotFound",
    "PsaPlugin",
    "PsaProduct",
    "PsaRateLimited",
    "PsaRequestError",
    "PsaResponseError",
    "PsaServerError",
    "PsaTimeout",
    "PsaTransientError",
    "PsaUnsupported",
    "RecordWritten",
    "RetryPolicy",
    "SnapshotBatch",
    "WriteResult",
    "active_snapshot",
    "create_client",
    "credentials_from_dict",
    "credentials_to_dict",
    "psa_plugin",
]
