"""Patches over HTTP: generate, list, show, approve with a capability, reject."""

from __future__ import annotations

from pathlib import Path

import httpx

from chimera_engine.config import load_settings
from chimera_engine.node import HeartNode
from chimera_engine.patches.generator import GenerationPolicy
from tests.patches.conftest_helpers import FIX, ScriptedProvider, make_workspace

PASSWORD = "correct horse battery"


async def test_patch_routes(tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path / "ws")
    settings = load_settings(
        data_dir=tmp_path / "data",
        workspace=workspace,
        use_default_file=False,
        env={"CHIMERA_API__PORT": "0", "CHIMERA_TOOLS__WATCH": "false"},
    )
    async with HeartNode(settings) as node:
        admin = await node.facade.sessions.create_first_admin("admin", PASSWORD)
        node.use_provider(
            ScriptedProvider([FIX, "no patch in this answer"]), GenerationPolicy(max_attempts=1)
        )  # type: ignore[arg-type]
        assert node.api is not None
        auth = {"Authorization": f"Bearer {admin.tokens.access_token}"}
        async with httpx.AsyncClient(base_url=node.api.url, timeout=60) as client:
            made = await client.post(
                "/api/llm/generate", headers=auth, json={"module": "mathy", "note": "zero divisor"}
            )
            assert made.status_code == 201, made.text
            patch = made.json()["patch"]
            assert patch["state"] == "ready" and "if b == 0" in patch["diff"]
            listed = (await client.get("/api/patches?state=ready", headers=auth)).json()
            assert [p["id"] for p in listed["patches"]] == [patch["id"]]
            shown = (await client.get(f"/api/patches/{patch['id']}", headers=auth)).json()
            assert [e["state"] for e in shown["events"]] == ["proposed", "testing", "ready"]
            none = await client.post("/api/llm/generate", headers=auth, json={"module": "mathy"})
            assert none.status_code == 422 and none.json()["patch"] is None
            bad = await client.get("/api/patches?state=bogus", headers=auth)
            assert bad.status_code == 400
            failed = (await client.get("/api/llm/attempts?failed=true", headers=auth)).json()
            (junk,) = failed["attempts"]
            assert junk["verdict"] == "unparseable" and junk["answer"] == "no patch in this answer"
            assert junk["trigger"]["reason"] == "requested by admin" and junk["patch_id"] is None
            every = (await client.get("/api/llm/attempts?module=mathy", headers=auth)).json()
            assert [a["verdict"] for a in every["attempts"]] == ["unparseable", "passed"]
            refused = await client.get("/api/llm/attempts?failed=maybe", headers=auth)
            assert refused.status_code == 400

            cap = await client.post(
                "/api/capabilities",
                headers=auth,
                json={"permission": "patch.approve", "object": f"patch:{patch['id']}"},
            )
            token = cap.json()["token"]
            approved = await client.post(
                f"/api/patches/{patch['id']}/approve", headers={"X-Capability": token}
            )
            assert approved.status_code == 200, approved.text
            assert approved.json()["patch"]["state"] == "applied"
            again = await client.post(
                f"/api/patches/{patch['id']}/reject",
                headers={"X-Capability": token},
                json={"reason": "x"},
            )
            assert again.status_code == 401  # the single-use capability is spent
            conflict = await client.post(
                f"/api/patches/{patch['id']}/reject", headers=auth, json={"reason": "too late"}
            )
            assert conflict.status_code == 409
