"""The system on two nodes behind a real proxy: every rule holds whichever node answers, and a node that dies or
restarts costs only the requests it held. Figures (requests per node, failover times) are printed with -s."""

from __future__ import annotations

import csv
import email
import io
import itertools
import re
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests.cluster.conftest import DETAIL_LIMIT
from tests.cluster.harness import Cluster
from tests.cluster.web import Person, demo_email, form_action, node_of

FIGURES: dict[str, object] = {}


def report(name: str, value: object) -> None:
    FIGURES[name] = value
    print(f"[cluster] {name}: {value}")


def test_consecutive_searches_land_on_both_nodes_and_the_client_address_comes_from_the_proxy(
    cluster: Cluster, signed_in
) -> None:
    agency = signed_in("agency")
    spoofer = Person(cluster, agency.email, source="127.0.0.23")
    spoofer.http.cookies.update(agency.http.cookies)
    nodes, request_ids = [], []
    for n in range(8):
        # A forged first hop must not become the recorded address: only the proxy's own hop is trusted.
        response = spoofer.get(f"/facilities/?q=太陽光&page={n % 2 + 1}", headers={"X-Forwarded-For": "203.0.113.9"})
        assert response.status_code == 200, response.text[:500]
        nodes.append(node_of(response))
        request_ids.append(response.headers["X-Request-ID"])
    assert all(a != b for a, b in itertools.pairwise(nodes)), nodes
    assert set(nodes) == set(cluster.node_names)
    recorded = cluster.sql("SELECT DISTINCT host(ip) FROM audit_accessrecord WHERE request_id = ANY(%s)", [request_ids])
    assert recorded == [("127.0.0.23",)]
    assert cluster.sql(
        "SELECT count(DISTINCT request_id) FROM audit_accessrecord WHERE request_id = ANY(%s)", [request_ids]
    ) == [(8,)]
    spoofer.close()
    report("search nodes", nodes)


def _activation_path(cluster: Cluster, address: str) -> str:
    # The mail leaves through the outbox: the worker sends it after the approval commits.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for path in sorted(cluster.mail_dir.glob("*.log")):
            for raw in re.split(r"\n-{60,}\n", path.read_text()):
                message = email.message_from_string(raw.strip())
                if address in (message.get("To") or ""):
                    payload = message.get_payload(decode=True) if not message.is_multipart() else b""
                    body = payload.decode() if isinstance(payload, bytes) else ""
                    link = re.search(r"https?://\S+/activate/\S+", body)
                    assert link, body
                    return "/" + link.group(0).split("/", 3)[3]
        time.sleep(0.5)
    raise AssertionError(f"no activation e-mail to {address}")


def test_an_account_is_issued_across_both_nodes(cluster: Cluster, signed_in) -> None:
    """Officer request on node1, approval on node2, then each onboarding step on the other node from the last."""
    newcomer_email = "cluster.newcomer@enecho.example.go.jp"
    officer, admin = signed_in("agency-officer"), signed_in("admin")

    response = officer.post(
        "/officer/request/",
        {"email": newcomer_email, "name": "分散 太郎", "department": "再エネ課", "reason": "二台構成の検証"},
        node="node1",
    )
    assert response.status_code == 302 and node_of(response) == "node1", response.text[:1000]

    page = admin.get("/manage/requests/", node="node2")
    assert newcomer_email in page.text
    row = page.text[page.text.index(newcomer_email) :]
    approve = form_action(row, "承認")
    assert admin.post(approve, node="node2").status_code == 302

    newcomer = Person(cluster, newcomer_email, password="two-nodes-one-register-2026")
    response = newcomer.get(_activation_path(cluster, newcomer_email), node="node1")
    assert response.status_code == 302 and node_of(response) == "node1"
    newcomer.get("/activate/password/", node="node2")
    response = newcomer.post(
        "/activate/password/",
        {"new_password1": newcomer.password, "new_password2": newcomer.password},
        node="node2",
    )
    assert response.status_code == 302, response.text[:1000]
    page = newcomer.get("/onboarding/authenticator/", node="node1")
    found = re.search(r"<figure class=\"qr\">.*?<code>([A-Z2-7 ]+)</code>", page.text, re.S)
    assert found is not None, page.text[:1000]
    secret = found.group(1)
    from base64 import b32decode

    newcomer.key_hex = b32decode("".join(secret.split())).hex()
    from tests.cluster.web import totp_code

    response = newcomer.post("/onboarding/authenticator/", {"code": totp_code(newcomer.key_hex)}, node="node2")
    assert response.status_code == 200 and "リカバリーコード" in response.text, response.text[:1000]
    response = newcomer.post("/terms/", {"agree": "on"}, node="node1")
    assert response.status_code == 302, response.text[:1000]
    home = newcomer.get("/", node="node2")
    assert home.status_code == 200 and "分散 太郎" in home.text
    assert cluster.sql("SELECT status FROM accounts_user WHERE email = %s", [newcomer_email]) == [("active",)]
    newcomer.close()


def _parallel(jobs: list, workers: int) -> list:
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda job: job(), jobs))


def test_lockout_counts_failures_from_both_nodes(cluster: Cluster) -> None:
    victim = demo_email("localgov")
    attackers = [Person(cluster, victim, password="wrong-password-guess", source="127.0.0.66") for _ in range(8)]
    for attacker in attackers:
        attacker.get("/login/")

    def attempt(attacker: Person) -> tuple[int, str]:
        response = attacker.post("/login/", {"username": victim, "password": attacker.password})
        if response.status_code >= 500:
            print("[cluster] lockout 5xx", response.status_code, node_of(response), response.text[:300])
        return response.status_code, node_of(response)

    outcomes = _parallel([lambda a=a: attempt(a) for a in attackers for _ in range(3)], workers=8)
    statuses = Counter(status for status, _node in outcomes)
    nodes = Counter(node for _status, node in outcomes)
    # 400: the password was checked and refused; 429: locked out. Only the limit's worth may be checked.
    limit = 10
    assert statuses[400] <= limit and statuses[400] + statuses[429] == len(outcomes), statuses
    assert set(nodes) == set(cluster.node_names)
    # The account is locked on both nodes, even with the right password from another address. The address is not:
    # its own limit (AXES_IP_FAILURE_LIMIT) is higher, and the account's lock stopped the count at the account's.
    for node in cluster.node_names:
        owner = Person(cluster, victim, source="127.0.0.67")
        assert owner.post("/login/", {"username": victim, "password": owner.password}, node=node).status_code == 429
        other = Person(cluster, demo_email("operator"), source="127.0.0.66")
        assert (
            other.post("/login/", {"username": other.email, "password": other.password}, node=node).status_code == 302
        )
        owner.close()
        other.close()
    failures = cluster.sql(
        "SELECT count(*) FROM audit_securityevent WHERE action IN ('auth.login_failed', 'auth.mfa_failed') "
        "AND data::text LIKE %s",
        [f"%{victim}%"],
    )
    report(
        "lockout",
        f"{len(outcomes)} parallel wrong passwords over {dict(nodes)}: {dict(statuses)} "
        f"(failures recorded {failures[0][0]}, limit {limit})",
    )
    for attacker in attackers:
        attacker.close()


def test_the_daily_detail_limit_holds_across_nodes(cluster: Cluster, signed_in) -> None:
    reader = signed_in("agency")
    ids = [row[0] for row in cluster.sql("SELECT facility_id FROM certifications_facility ORDER BY id LIMIT 48")]
    clients = [reader.new_client() for _ in range(8)]
    already = cluster.sql(
        "SELECT coalesce(sum(count), 0) FROM certifications_dailyusage d JOIN accounts_user u ON u.id = d.user_id "
        "WHERE u.email = %s AND d.kind = 'detail'",
        [reader.email],
    )[0][0]

    def view(client: httpx.Client, facility_id: str) -> tuple[int, str]:
        response = client.get(f"/facilities/{facility_id}/")
        return response.status_code, node_of(response)

    outcomes = _parallel([lambda c=clients[n % 8], f=f: view(c, f) for n, f in enumerate(ids)], workers=8)
    shown = [node for status, node in outcomes if status == 200]
    refused = [status for status, _node in outcomes if status != 200]
    assert len(shown) == DETAIL_LIMIT - already, Counter(status for status, _node in outcomes)
    assert set(shown) == set(cluster.node_names)
    assert set(refused) <= {403, 429}, refused
    used = cluster.sql(
        "SELECT d.count FROM certifications_dailyusage d JOIN accounts_user u ON u.id = d.user_id "
        "WHERE u.email = %s AND d.kind = 'detail'",
        [reader.email],
    )
    assert used == [(DETAIL_LIMIT,)]
    report(
        "detail limit",
        f"{len(ids)} parallel views over both nodes: {len(shown)} shown "
        f"{dict(Counter(shown))}, {len(refused)} refused, counter {used[0][0]}/{DETAIL_LIMIT}",
    )
    for client in clients:
        client.close()


def test_a_suspension_on_one_node_ends_the_session_on_the_other_at_once(cluster: Cluster, signed_in) -> None:
    person, officer = signed_in("bureau"), signed_in("bureau-officer")
    assert person.get("/facilities/", node="node2").status_code == 200
    console = officer.get("/officer/", node="node1").text
    action = form_action(console[console.index(person.email) :], "停止")
    assert officer.post(action, {"reason": "人事異動"}, node="node1").status_code == 302
    response = person.get("/facilities/", node="node2")
    assert response.status_code == 302 and "/login/" in response.headers["location"]
    assert node_of(response) == "node2"


def test_a_password_change_on_one_node_ends_the_other_session_on_the_other_node(cluster: Cluster) -> None:
    first, second = Person(cluster, demo_email("designated")), Person(cluster, demo_email("designated"))
    first.sign_in(node="node1")
    second.sign_in(node="node2")
    new_password = "a-new-passphrase-for-two-nodes"
    response = first.post(
        "/account/password/",
        {"old_password": first.password, "new_password1": new_password, "new_password2": new_password},
        node="node1",
    )
    assert response.status_code == 302, response.text[:1000]
    refused = second.get("/facilities/", node="node2")
    assert refused.status_code == 302 and "/login/" in refused.headers["location"]
    assert first.get("/facilities/", node="node2").status_code == 200  # the session that changed it goes on
    first.close()
    second.close()


def test_a_node_killed_in_the_middle_of_an_export(cluster: Cluster, signed_in) -> None:
    """The client sees a failed download; every row that arrived was recorded before it left; the proxy sends
    the next requests to the surviving node."""
    reader = signed_in("designated-officer")
    total = cluster.sql("SELECT count(*) FROM certifications_facility")[0][0]
    received = bytearray()
    failed = None
    with reader.http.stream("GET", "/facilities/export.csv") as response:
        assert response.status_code == 200
        victim, request_id = node_of(response), response.headers["X-Request-ID"]
        chunks = response.iter_raw(16384)
        try:
            received += next(chunks)
            killed_at = time.monotonic()
            cluster.node_kill(victim)
            for chunk in chunks:
                received += chunk
        except (httpx.RemoteProtocolError, httpx.ReadError) as error:
            failed = error
    assert failed is not None, f"the download completed ({len(received)} bytes) although {victim} was killed"
    survivor = next(name for name in cluster.node_names if name != victim)

    # The next requests answer from the survivor at once (a refused connection is redispatched).
    statuses: Counter[tuple[Any, str]] = Counter()
    while not cluster.server_states()[victim].startswith("DOWN"):
        response = reader.get("/facilities/")
        statuses[(response.status_code, node_of(response))] += 1
    marked_down = time.monotonic() - killed_at
    assert set(statuses) == {(200, survivor)}, statuses

    lines = list(csv.reader(io.StringIO(received.decode("utf-8-sig", errors="ignore"))))
    sent = {row[0] for row in lines[1:-1]}  # the last line may be cut in the middle
    recorded = {
        facility
        for (ids,) in cluster.sql(
            "SELECT facility_ids FROM audit_accessrecord WHERE request_id = %s AND disclosure_kind = 'export'",
            [request_id],
        )
        for facility in ids
    }
    assert sent and sent <= recorded, len(sent - recorded)
    assert len(sent) < total
    report(
        "killed node",
        f"{victim} killed after {len(received)} bytes: {len(sent)} of {total} rows arrived, "
        f"{len(recorded)} recorded; proxy marked it DOWN after {marked_down:.2f} s, "
        f"requests meanwhile {dict(statuses)}",
    )
    cluster.node_start(victim)
    report("killed node back UP after restart (s)", round(cluster.wait_healthy(seconds=60), 2))


def test_nodes_restarted_while_clients_run_cost_only_the_killed_requests(cluster: Cluster, signed_in) -> None:
    reader = signed_in("agency")
    # A new connection per request: a reused one that the proxy closes as the request is sent fails in the
    # client (browsers silently retry those), which would blur what the nodes did.
    clients = [reader.new_client(keepalive=False) for _ in range(4)]
    outcomes: list[tuple[float, int, str]] = []
    stop = threading.Event()

    def run(client: httpx.Client) -> None:
        while not stop.is_set():
            try:
                response = client.get("/facilities/?page=2")
                outcomes.append((time.monotonic(), response.status_code, node_of(response)))
            except httpx.HTTPError as error:
                print("[cluster] restart client error", time.monotonic(), repr(error))
                outcomes.append((time.monotonic(), 599, ""))

    threads = [threading.Thread(target=run, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    try:
        time.sleep(2)
        restarted_after = cluster.node_restart("node1")
        time.sleep(1)
        killed_at = time.monotonic()
        cluster.node_kill("node2")
        down_after = cluster.wait_down("node2", seconds=10)
        cluster.node_start("node2")
        up_after = cluster.wait_healthy(seconds=60)
        time.sleep(2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    errors = [(at - killed_at, status) for at, status, _node in outcomes if status >= 500]
    per_node = Counter(node for _at, status, node in outcomes if status < 500)
    # The rolling restart costs nothing; at most one request per client can have been inside node2 when it
    # died, and only then.
    assert len(errors) <= len(clients), errors
    assert all(-0.5 <= delay <= 2 for delay, _status in errors), errors
    assert per_node.keys() >= set(cluster.node_names)
    report(
        "restart under load",
        f"{len(outcomes)} requests, per node {dict(per_node)}, 5xx {len(errors)} "
        f"(node1 rolling restart UP again after {restarted_after:.1f} s; killed node2 marked DOWN after "
        f"{down_after:.2f} s, back UP {up_after:.2f} s after restart)",
    )
    report("proxy counters (responses per node)", cluster.served())
    for client in clients:
        client.close()
