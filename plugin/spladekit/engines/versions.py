"""Engine versions spladekit fetches, tests against and writes in docker/: the one place they are pinned.

Each is the newest patch release that resolved on Maven Central when it was pinned (see docs/engines.md).
``docker/compose.*.yml`` use the same numbers; a unit test checks they agree.
"""

from __future__ import annotations

OPENSEARCH_VERSION = "2.19.4"
ELASTICSEARCH_VERSION = "8.19.8"

#: engine name -> (distribution artifact, extra module artifacts) as Maven ``group:artifact:version:type``.
ARTIFACTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "opensearch": (
        f"org.opensearch.distribution.integ-test-zip:opensearch:{OPENSEARCH_VERSION}:zip",
        # rank_features / rank_feature live in mapper-extras, which the integ-test zip does not ship.
        (f"org.opensearch.plugin:mapper-extras-client:{OPENSEARCH_VERSION}:jar",),
    ),
    "elasticsearch": (
        f"org.elasticsearch.distribution.integ-test-zip:elasticsearch:{ELASTICSEARCH_VERSION}:zip",
        (),
    ),
}

VERSIONS: dict[str, str] = {"opensearch": OPENSEARCH_VERSION, "elasticsearch": ELASTICSEARCH_VERSION}

#: The Maven plugin used for ``dependency:copy`` (needs no POM).
MAVEN_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

#: Docker images for users who run the engines with Docker (docker/compose.*.yml).
DOCKER_IMAGES: dict[str, str] = {
    "opensearch": f"opensearchproject/opensearch:{OPENSEARCH_VERSION}",
    "elasticsearch": f"docker.elastic.co/elasticsearch/elasticsearch:{ELASTICSEARCH_VERSION}",
}
