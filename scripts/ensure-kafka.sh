#!/usr/bin/env bash
# The Kafka admin tests run a real Apache Kafka broker (KRaft, one node) as the admin API peer.
# Its jars come from Maven Central once per machine, into the user's cache, and are copied to
# .cache/kafka/lib (ignored by git), so that fresh clones on the same machine reuse them.
# A given KAFKA_LIBS (a folder of jars) wins.
set -euo pipefail
KAFKA_VERSION=4.1.1
# Kafka 4.1.1 is built against slf4j-api 1.7.36: a 2.x binding would find no provider and the
# broker would log nothing, so its start-up failures could not be shown.
SLF4J_VERSION=1.7.36
cd "$(dirname "$0")/.."

ensure_java () {
  if command -v java >/dev/null 2>&1; then return 0; fi
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-kafka: installing a Java runtime for the Kafka broker" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends default-jre-headless >/dev/null
    return 0
  fi
  echo "ensure-kafka: the Kafka admin tests need Java 17 or newer: run 'sudo apt-get install default-jre-headless'" >&2
  exit 1
}

if [ -n "${KAFKA_LIBS:-}" ]; then
  if compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null; then ensure_java; exit 0; fi
  echo "ensure-kafka: KAFKA_LIBS=$KAFKA_LIBS holds no kafka_2.13-*.jar" >&2
  exit 1
fi

# The jar names carry their versions, so a version bump fetches again.
fetched () { [ -f "$1/kafka_2.13-${KAFKA_VERSION}.jar" ] && [ -f "$1/slf4j-simple-${SLF4J_VERSION}.jar" ]; }
ensure_java
if fetched .cache/kafka/lib; then exit 0; fi
user_cache="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/kafscale-mcp/kafka"
if ! fetched "$user_cache/lib"; then
  if ! command -v mvn >/dev/null 2>&1; then
    echo "ensure-kafka: Maven is needed once to fetch the Kafka ${KAFKA_VERSION} jars (or set KAFKA_LIBS): run 'sudo apt-get install maven'" >&2
    exit 1
  fi
  echo "ensure-kafka: fetching Apache Kafka ${KAFKA_VERSION} from Maven Central (first run on this machine only, about a minute)" >&2
  mkdir -p "$user_cache"
  # Fetched beside the cache and moved in whole, so a concurrent or interrupted run never
  # leaves a half-filled lib folder that looks complete.
  work="$(mktemp -d "$user_cache/fetch.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  cat > "$work/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.kafscale-mcp</groupId>
  <artifactId>kafka-test-peer</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>${KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-simple</artifactId><version>${SLF4J_VERSION}</version></dependency>
  </dependencies>
</project>
EOF
  if ! mvn -q -B -f "$work/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$work/lib" >"$work/mvn.log" 2>&1; then
    cat "$work/mvn.log" >&2
    exit 1
  fi
  rm -rf "$user_cache/lib"
  mv "$work/lib" "$user_cache/lib"
fi
rm -rf .cache/kafka/lib
mkdir -p .cache/kafka
cp -R "$user_cache/lib" .cache/kafka/lib
