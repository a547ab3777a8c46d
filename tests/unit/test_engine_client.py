"""connect(): engine detection, credentials that never leak into errors, lazy client imports."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from _support import send_json
from spladekit.engines import Credentials, connect, detect_engine, safe_url
from spladekit.engines.base import split_url
from spladekit.engines.node import free_port
from spladekit.errors import EngineError, InputError

SECRET = "s3cr3t-pw"


def _serve(status: int, headers: dict[str, str], body: dict) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            send_json(self, status, body, headers)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def opensearch_like() -> Iterator[str]:
    yield from _serve(200, {}, {"version": {"distribution": "opensearch", "number": "2.19.4"}})


@pytest.fixture
def es_test_zip_like() -> Iterator[str]:
    # Elasticsearch's integ-test zip has no GET / handler, but every answer names the product.
    yield from _serve(405, {"X-elastic-product": "Elasticsearch"}, {"error": "Incorrect HTTP method"})


@pytest.fixture
def refusing() -> Iterator[str]:
    yield from _serve(401, {}, {"error": "unauthorized"})


def test_detects_opensearch(opensearch_like: str) -> None:
    assert detect_engine(opensearch_like) == "opensearch"
    assert connect(opensearch_like, "docs").engine == "opensearch"


def test_detects_elasticsearch_from_header(es_test_zip_like: str) -> None:
    assert detect_engine(es_test_zip_like) == "elasticsearch"


def test_refused_credentials_do_not_leak(refusing: str) -> None:
    url = refusing.replace("http://", f"http://admin:{SECRET}@")
    with pytest.raises(EngineError, match="refused the credentials") as info:
        connect(url, "docs")
    assert SECRET not in str(info.value) and "admin" not in str(info.value)


def test_unreachable_engine_error_names_the_fix_without_secrets() -> None:
    url = f"http://bob:{SECRET}@127.0.0.1:{free_port()}"
    with pytest.raises(EngineError, match="spladekit engine start") as info:
        connect(url, "docs")
    assert SECRET not in str(info.value)


def test_urls_and_credentials_hide_secrets() -> None:
    assert split_url(f"https://bob:{SECRET}@example.org:9200/") == ("https://example.org:9200", "bob", SECRET)
    assert SECRET not in safe_url(f"https://bob:{SECRET}@example.org:9200/")
    assert SECRET not in repr(Credentials(user="bob", password=SECRET, api_key=SECRET))
    idx = connect(f"http://bob:{SECRET}@127.0.0.1:9", "docs", engine="opensearch")
    assert SECRET not in repr(idx) and idx.url == "http://127.0.0.1:9"


def test_bad_url_and_index_name() -> None:
    with pytest.raises(InputError, match="needs a scheme"):
        connect("127.0.0.1:9200", "docs", engine="opensearch")
    with pytest.raises(InputError, match="lower case"):
        connect("http://127.0.0.1:9200", "Docs", engine="opensearch")
    with pytest.raises(ValueError, match="valid engines"):
        connect("http://127.0.0.1:9200", "docs", engine="solr")


@pytest.mark.parametrize(("engine", "module"), [("opensearch", "opensearchpy"), ("elasticsearch", "elasticsearch")])
def test_missing_client_names_the_extra(engine: str, module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=r"pip install 'spladekit\[engines\]'"):
        connect("http://127.0.0.1:9200", "docs", engine=engine)


def test_elasticsearch_index_keeps_vectors_in_source_on_9_and_still_creates_on_8() -> None:
    import elasticsearch
    from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig

    from spladekit import dialects
    from spladekit.mappings import mapping
    from spladekit.schema import SCHEMA, ModelIdentity

    def refusal(reason: str) -> elasticsearch.BadRequestError:
        meta = ApiResponseMeta(400, "1.1", HttpHeaders(), 0.0, NodeConfig("http", "127.0.0.1", 9200))
        return elasticsearch.BadRequestError(reason, meta, {"error": {"reason": reason}})

    class Indices:
        def __init__(self, knows_setting: bool) -> None:
            self.knows_setting, self.created = knows_setting, []

        def create(self, index: str, settings: dict, mappings: dict) -> None:
            if "mapping" in settings["index"] and not self.knows_setting:  # what Elasticsearch 8.19 answers
                raise refusal("unknown setting [index.mapping.exclude_source_vectors] please check ...")
            self.created.append(settings)

    spec = dialects.get("elasticsearch")
    body = mapping(spec, SCHEMA.meta(ModelIdentity("splade-tiny", "abc")))
    for knows_setting, want in ((True, {"exclude_source_vectors": False}), (False, None)):
        client = type("Client", (), {"indices": Indices(knows_setting)})()
        spec.create_index(client, "docs", body)
        (settings,) = client.indices.created
        assert settings["index"].get("mapping") == want
        assert settings["index"]["number_of_shards"] == body["settings"]["index"]["number_of_shards"]
    client.indices.create = lambda **kw: (_ for _ in ()).throw(refusal("mapper_parsing_exception: bad field"))
    with pytest.raises(elasticsearch.BadRequestError, match="bad field"):
        spec.create_index(client, "docs", body)  # any other refusal is not retried
