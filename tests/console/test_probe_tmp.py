from tests.console.conftest import console_login

async def test_probe(live):
    c = await console_login(live, "publisher")
    for p in ("/console/notices", "/console/notices/", "/console/notices/new"):
        r = await c.get(p)
        print(p, r.status_code, r.text[:300])
