"""The web app (app/webapp.py, app/static): its routes in process, then the page in headless Chromium against a
real `fieldmap serve` with a key and two workspaces ("demo", and "evil" whose titles and names carry payloads).

FIELDMAP_SCREENSHOTS=DIR keeps the screenshots there (docs/ holds the ones in the README)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from urllib.parse import quote

import duckdb
import pytest
from fastapi.testclient import TestClient

from app.workspaces import Served, create_front
from fieldmap.dbfile import file_stamp, write_stamp
from fieldmap.store import connect, snapshot_path
from tests.serving import Serving

QUESTION = "What do X-ray observations reveal about galaxy clusters?"
KEY = "browser-key-0123456789"
PAYLOAD = (
    "<img src=x onerror=\"document.documentElement.setAttribute('data-pwned','img')\">"
    "<script>document.documentElement.setAttribute('data-pwned','script')</script> "
)


def events(body: str) -> list[tuple[str, dict]]:
    found = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        found.append((lines["event"], json.loads(lines["data"])))
    return found


@pytest.fixture(scope="module")
def client(built_workspace):
    app = create_front([Served("demo", built_workspace)], concurrency=1)
    with TestClient(app, base_url="http://127.0.0.1:8000") as http:
        yield http


def linked_entity(settings) -> tuple[str, str]:
    """The entity with the most triplet neighbours, and its name."""
    con = connect(settings.duckdb_path, read_only=True)
    try:
        return con.execute(
            """SELECT e.entity_id, e.name FROM entities e JOIN triplets t ON e.entity_id IN (t.subject_id, t.object_id)
               GROUP BY ALL ORDER BY count(DISTINCT CASE WHEN t.subject_id = e.entity_id THEN t.object_id ELSE t.subject_id END) DESC, 1
               LIMIT 1"""
        ).fetchall()[0]
    finally:
        con.close()


def test_the_stream_says_what_ask_says(client):
    reply = client.post("/w/demo/ask/stream", json={"question": QUESTION, "mode": "hipporag"})
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
    found = events(reply.text)
    assert found[0][0] == "status" and found[-1][0] == "done"
    names = [name for name, _ in found]
    assert names.index("retrieved") < names.index("answer")  # the passages are told as soon as they are found
    answer = found[-1][1]
    assert [p["chunk_id"] for p in found[names.index("retrieved")][1]["passages"]] == [
        p["chunk_id"] for p in answer["passages"][: answer["retrieved"]]
    ]
    pieces = [data["text"] for name, data in found if name == "answer"]
    assert "".join(pieces) == answer["answer"] and len(pieces) >= 2
    plain = client.post("/ask", json={"question": QUESTION, "mode": "hipporag"}).json()
    assert {k: v for k, v in answer.items() if k != "timings_ms"} == {
        k: v for k, v in plain.items() if k != "timings_ms"
    }


def test_a_passage_comes_with_its_document(client, built_workspace):
    chunk = client.get("/search?q=jellyfish&mode=bm25&k=1").json()["results"][0]
    passage = client.get(f"/w/demo/passages/{quote(chunk['chunk_id'])}").json()
    assert passage["text"] == chunk["text"] and passage["title"] == chunk["title"]
    assert passage["link"] == passage["doc_id"] and passage["link"].startswith("http://arxiv.org/abs/")
    assert passage["date"] and passage["pages"] is None  # JSONL records have no pages
    assert client.get("/w/demo/passages/nope%230").status_code == 404


def test_the_graph_is_the_entity_and_its_neighbours(client, built_workspace):
    entity_id, _ = linked_entity(built_workspace)
    graph = client.get(f"/w/demo/graph/{quote(entity_id)}").json()
    ids = [n["id"] for n in graph["nodes"]]
    assert ids[0] == entity_id == graph["centre"] and len(ids) == len(set(ids)) >= 3
    neighbours = {n["entity_id"] for n in client.get(f"/w/demo/entities/{quote(entity_id)}").json()["neighbours"]}
    assert neighbours & set(ids[1:])
    assert all(e["source"] in ids and e["target"] in ids for e in graph["edges"])
    assert any(entity_id in (e["source"], e["target"]) for e in graph["edges"])


def test_the_page_and_the_dashboard_are_served(client):
    page = client.get("/")
    assert "<title>fieldmap</title>" in page.text and "script-src 'self'" in page.headers["content-security-policy"]
    assert "function drawGraph" in client.get("/static/app.js").text
    dashboard = client.get("/w/demo/dashboard/")
    assert dashboard.status_code == 200 and "plotly" in dashboard.text.lower()
    assert client.get("/w/demo/dashboard/../../fieldmap.duckdb").status_code == 404


# ---- in the browser ----


@pytest.fixture(scope="module")
def evil_workspace(built_workspace, tmp_path_factory) -> Path:
    """The built workspace with a payload before every document title and entity name (in its published snapshot)."""
    workspace = tmp_path_factory.mktemp("evil") / "ws"
    shutil.copytree(built_workspace.workspace, workspace, ignore=shutil.ignore_patterns("*.wal", "dagster"))
    con = duckdb.connect(str(snapshot_path(workspace / built_workspace.duckdb_path.name)))
    con.execute("UPDATE documents SET title = ? || title", [PAYLOAD])
    con.execute("UPDATE entities SET name = ? || name", [PAYLOAD])
    con.close()
    snapshot = snapshot_path(workspace / built_workspace.duckdb_path.name)
    write_stamp(snapshot, file_stamp(snapshot))  # published as changed, not damaged (a snapshot must match its stamp)
    return workspace


@pytest.fixture(scope="module")
def page(built_workspace, evil_workspace, tmp_path_factory):
    from tests.cdp import Browser

    tmp = tmp_path_factory.mktemp("browser")
    keys = tmp / "keys.txt"
    keys.write_text(f"{KEY} = demo, evil\n")
    served = Serving(
        [
            "--workspace",
            f"demo={built_workspace.workspace}",
            "--workspace",
            f"evil={evil_workspace}",
            "--keys",
            str(keys),
            "--concurrency",
            "1",
        ],
        tmp,
    )
    browser = None
    try:
        served.wait_until_up()
        browser = Browser(tmp / "profile")
        browser.base = served.base
        yield browser
    finally:
        if browser is not None:
            browser.close()
        served.stop()


def screenshot(browser, name: str, tmp_path: Path) -> None:
    folder = Path(os.environ.get("FIELDMAP_SCREENSHOTS") or tmp_path)
    browser.send("Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1, mobile=False)
    browser.screenshot(folder / name)
    assert (folder / name).stat().st_size > 10_000


def not_pwned(browser) -> None:
    assert browser.js("document.documentElement.getAttribute('data-pwned')") is None


@pytest.mark.browser
def test_without_a_key_the_page_asks_to_sign_in(page):
    page.goto(page.base + "/")
    page.wait("!document.getElementById('signin').hidden")
    assert "API key" in page.js("document.getElementById('signin').innerText")
    assert page.js("[...document.querySelectorAll('.view')].every(v => v.hidden)")
    assert page.js("document.getElementById('workspace').options.length") == 0  # no data without a key


@pytest.mark.browser
def test_ask_streams_then_a_citation_opens_its_passage_highlighted(page, tmp_path):
    page.goto(page.base + "/")
    page.wait("!document.getElementById('signin').hidden")
    page.js(
        f"document.getElementById('key').value = {json.dumps(KEY)}; document.getElementById('signin-form').requestSubmit()"
    )
    page.wait(
        "document.getElementById('workspace').options.length === 2 && !document.getElementById('view-ask').hidden"
    )
    page.js("""window.pieces = 0; window.progress = [];
               new MutationObserver(() => { if (document.getElementById('answer').dataset.done !== 'true') window.pieces++; })
                 .observe(document.getElementById('answer'), {childList: true});
               new MutationObserver((changes) => changes.forEach((c) => c.addedNodes.forEach((n) => window.progress.push(n.className))))
                 .observe(document.getElementById('progress'), {childList: true});""")
    page.js(
        f"document.getElementById('question').value = {json.dumps(QUESTION)}; document.getElementById('ask-form').requestSubmit()"
    )
    page.wait("document.getElementById('answer').dataset.done === 'true'")
    assert page.js("window.pieces") >= 2  # the answer arrived in pieces before the whole of it
    assert page.js("window.progress")[0] == "retrieved"  # the passages were named while the answer was read
    assert page.js("document.querySelectorAll('#passages li').length") >= 1
    cited = page.js("Number(document.querySelector('#answer .cite').dataset.passage)")
    page.js("document.querySelector('#answer .cite').click()")
    page.wait(
        "!document.getElementById('passage-panel').hidden && document.querySelector('#passage-text mark.evidence')"
    )
    marked = page.js("document.querySelector('#passage-text mark.evidence').textContent")
    evidence = page.js(f"state.answer.evidence.filter(e => e.passage === {cited}).map(e => e.text.trim())")
    assert marked.strip() in evidence
    assert page.js("document.getElementById('passage-panel').dataset.chunk") == page.js(
        f"state.answer.passages[{cited} - 1].chunk_id"
    )
    assert "arxiv.org" in page.js("document.querySelector('#passage-meta a').href")
    screenshot(page, "app-ask.png", tmp_path)
    # the dashboard link carries the key in a cookie
    assert page.js("fetch(document.getElementById('dashboard-link').href).then(r => r.status)") == 200


@pytest.mark.browser
def test_the_entity_graph_renders_and_a_click_walks(page, built_workspace, tmp_path):
    entity_id, name = linked_entity(built_workspace)
    page.js(f"location.hash = '#entity/' + encodeURIComponent({json.dumps(entity_id)})")
    page.wait(f"document.getElementById('graph').dataset.centre === {json.dumps(entity_id)}")
    assert page.js("document.getElementById('entity-name').textContent") == name
    assert page.js("document.querySelectorAll('#graph g.node').length") >= 3
    assert page.js("document.querySelectorAll('#graph line').length") >= 2
    assert page.js("document.querySelectorAll('#facts tbody tr').length") >= 1
    screenshot(page, "app-entity.png", tmp_path)
    target = page.js("document.querySelector('#graph g.node:not(.centre)').dataset.id")
    page.js(
        "document.querySelector('#graph g.node:not(.centre)').dispatchEvent(new MouseEvent('click', {bubbles: true}))"
    )
    page.wait(f"document.getElementById('graph').dataset.centre === {json.dumps(target)}")
    assert page.js("document.querySelector('#graph g.node.centre').dataset.id") == target


@pytest.mark.browser
def test_a_script_title_stays_text(page):
    page.js(
        "const s = document.getElementById('workspace'); s.value = 'evil'; s.dispatchEvent(new Event('change')); location.hash = '#ask'"
    )
    page.js(
        f"document.getElementById('question').value = {json.dumps(QUESTION)}; document.getElementById('ask-form').requestSubmit()"
    )
    page.wait(
        "document.getElementById('answer').dataset.done === 'true' && document.querySelectorAll('#passages li').length"
    )
    assert "<script>" in page.js("document.getElementById('passages').innerText")
    page.js(
        "document.getElementById('passage-panel').hidden = true; document.querySelector('#passages .title').click()"
    )
    page.wait("!document.getElementById('passage-panel').hidden")
    assert page.js("document.getElementById('passage-title').textContent").startswith("<img src=x")
    entity = page.js(
        "fetch('/w/evil/entities?q=script&limit=1', {headers: {Authorization: 'Bearer ' + localStorage.getItem('fieldmap_key')}})"
        ".then(r => r.json()).then(j => j.entities[0].entity_id)"
    )
    page.js(f"location.hash = '#entity/' + encodeURIComponent({json.dumps(entity)})")
    page.wait(f"document.getElementById('graph').dataset.centre === {json.dumps(entity)}")
    assert "<script>" in page.js("document.getElementById('entity-name').textContent")
    assert (
        page.js("document.querySelectorAll('main img, main script, aside img, aside script, #graph img').length") == 0
    )
    not_pwned(page)
