"""Engine versions spladekit fetches, tests against and writes in docker/: the one place they are pinned.

Each is the newest patch release that resolved on Maven Central when it was pinned (see docs/engines.md).
``docker/compose.*.yml`` use the same numbers; a unit test checks they agree.
"""

from __future__ import annotations

import os
import re

from spladekit.errors import EngineError

OPENSEARCH_VERSION = "2.19.4"
ELASTICSEARCH_VERSION = "8.19.8"

VERSIONS: dict[str, str] = {"opensearch": OPENSEARCH_VERSION, "elasticsearch": ELASTICSEARCH_VERSION}
#: Set to run another release with ``spladekit engine start`` (e.g. the major version production runs);
#: the tests, docker/ and the figures in docs/ use the pinned ones.
VERSION_ENV: dict[str, str] = {"opensearch": "SPLADEKIT_OPENSEARCH_VERSION",
                               "elasticsearch": "SPLADEKIT_ELASTICSEARCH_VERSION"}
#: The first major release of each engine that needs Java 21 (the ones before run on Java 17).
_JAVA21_FROM: dict[str, int] = {"opensearch": 3, "elasticsearch": 9}


def version(engine: str) -> str:
    """The release of ``engine`` to fetch and start: ``$SPLADEKIT_<ENGINE>_VERSION``, else the pinned one."""
    wanted = os.environ.get(VERSION_ENV[engine])
    if not wanted:
        return VERSIONS[engine]
    if not re.fullmatch(r"\d+\.\d+\.\d+", wanted):
        raise EngineError(
            f"{VERSION_ENV[engine]}={wanted!r} is not a release number like {VERSIONS[engine]}; set it to one "
            f"(or unset it for the pinned {VERSIONS[engine]})"
        )
    return wanted


def artifacts(engine: str) -> tuple[str, tuple[str, ...]]:
    """(distribution artifact, extra module artifacts) of :func:`version` as Maven ``group:artifact:version:type``."""
    v = version(engine)
    if engine == "opensearch":
        # rank_features / rank_feature live in mapper-extras, which the integ-test zip does not ship.
        return (f"org.opensearch.distribution.integ-test-zip:opensearch:{v}:zip",
                (f"org.opensearch.plugin:mapper-extras-client:{v}:jar",))
    return f"org.elasticsearch.distribution.integ-test-zip:elasticsearch:{v}:zip", ()


def java_needed(engine: str) -> int:
    """The oldest Java major version :func:`version` of ``engine`` runs on (OpenSearch 3 and Elasticsearch 9
    need 21)."""
    major = int(version(engine).split(".", 1)[0])
    return 21 if major >= _JAVA21_FROM[engine] else 17

#: The Maven plugin used for ``dependency:copy`` (needs no POM).
MAVEN_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

#: Docker images for users who run the engines with Docker (docker/compose.*.yml).
DOCKER_IMAGES: dict[str, str] = {
    "opensearch": f"opensearchproject/opensearch:{OPENSEARCH_VERSION}",
    "elasticsearch": f"docker.elastic.co/elasticsearch/elasticsearch:{ELASTICSEARCH_VERSION}",
}
