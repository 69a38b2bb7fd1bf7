"""TLS for real: the simulator serves HTTPS with a test CA, and the client verifies it.

trustme makes the CA, the server's certificate and an X.509 client certificate; nothing
turns verification off.
"""

from __future__ import annotations

import ssl

import pytest
import trustme

from aicore_bulk import (
    AiohttpTransport,
    AuthenticationError,
    BulkClient,
    RunOptions,
    ServiceError,
    X509Credentials,
)
from aicore_bulk.testing import Simulator, VirtualClock, serve


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


def server_context(ca, *, client_certificates: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    if client_certificates:
        # Ask for a client certificate, and verify it against the CA, without requiring one:
        # client-credentials callers send a secret instead.
        context.verify_mode = ssl.CERT_OPTIONAL
        ca.configure_trust(context)
    return context


def trusting(ca) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def tenant(clock):
    sim = Simulator(clock=clock)
    ids = sim.seed("executions", 300, statuses={"RUNNING": 1, "DEAD": 2})
    return sim, ids


async def test_client_credentials_over_verified_tls(ca):
    """Over HTTPS with the CA trusted, a cleanup with client credentials deletes everything."""
    clock = VirtualClock()
    sim, ids = tenant(clock)
    async with serve(sim, ssl_context=server_context(ca)) as server:
        assert server.url.startswith("https://")
        client = BulkClient(
            base_url=server.base_url,
            auth_url=server.token_url,
            client_id=server.credentials.client_id,
            client_secret=server.credentials.client_secret,
            resource_group="default",
            clock=clock,
            options=RunOptions(poll_interval=1.0),
            transport=clock.track(AiohttpTransport(ssl_context=trusting(ca))),
        )
        async with client:
            report = await client.delete("executions", ids)

    assert report.ok
    assert all(sim.state("executions", item_id).deleted for item_id in ids)


async def test_x509_client_certificate_against_a_tls_token_endpoint(ca):
    """With mTLS, the token endpoint takes the client certificate instead of a secret."""
    clock = VirtualClock()
    sim, ids = tenant(clock)
    certificate = ca.issue_cert("aicore-bulk-client")
    async with serve(sim, ssl_context=server_context(ca, client_certificates=True)) as server:
        credentials = X509Credentials(
            server.token_url,
            server.credentials.client_id,
            cert_pem=certificate.cert_chain_pems[0].bytes().decode(),
            key_pem=certificate.private_key_pem.bytes().decode(),
            clock=clock,
        )
        context = credentials.ssl_context()  # presents the client certificate
        ca.configure_trust(context)  # and trusts the test CA, as it would a public one
        client = BulkClient(
            base_url=server.base_url,
            resource_group="default",
            auth=credentials,
            clock=clock,
            options=RunOptions(poll_interval=1.0),
            transport=clock.track(AiohttpTransport(ssl_context=context)),
        )
        async with client:
            report = await client.delete("executions", ids)

    assert report.ok
    assert sim.statistics().requests["token"] == 1


async def test_x509_without_a_client_certificate_is_refused(ca):
    """The same client id with no certificate on the connection gets no token."""
    clock = VirtualClock()
    sim, ids = tenant(clock)
    async with serve(sim, ssl_context=server_context(ca, client_certificates=True)) as server:
        client = BulkClient(
            base_url=server.base_url,
            resource_group="default",
            auth=X509Credentials(server.token_url, server.credentials.client_id, clock=clock),
            clock=clock,
            transport=clock.track(AiohttpTransport(ssl_context=trusting(ca))),
        )
        async with client:
            with pytest.raises(AuthenticationError, match="refused the credentials"):
                await client.delete("executions", ids)

    assert not any(sim.state("executions", item_id).deleted for item_id in ids)


async def test_a_server_certificate_from_another_ca_is_refused(ca):
    """With verification on and the test CA not trusted, nothing is sent and the error says why."""
    clock = VirtualClock()
    sim, ids = tenant(clock)
    async with serve(sim, ssl_context=server_context(ca)) as server:
        client = BulkClient(
            base_url=server.base_url,
            auth_url=server.token_url,
            client_id=server.credentials.client_id,
            client_secret=server.credentials.client_secret,
            resource_group="default",
            clock=clock,
            transport=clock.track(AiohttpTransport()),  # the system's trust store only
        )
        async with client:
            with pytest.raises(
                ServiceError, match=r"127\.0\.0\.1:\d+: the server's TLS certificate was refused"
            ):
                await client.delete("executions", ids)

    assert sum(sim.statistics().requests.values()) == 0
    assert not any(sim.state("executions", item_id).deleted for item_id in ids)
