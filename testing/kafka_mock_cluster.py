"""librdkafka's in-memory mock Kafka cluster, as a process a test talks to.

A Kafka-compatible cluster that nobody here wrote: N brokers with ids 1..N on ephemeral
loopback ports, partition leaders spread over them. librdkafka starts it inside a producer
handle configured with `test.mock.num.brokers`; Debian's python3-confluent-kafka 1.7 does
not expose the mock API (rd_kafka_mock_*), so this script drives Debian's librdkafka1 (the
library python3-confluent-kafka is built on) through ctypes.

Usage: kafka_mock_cluster.py <brokers> [topic:partitions ...]

Prints one line `bootstrap <host:port,...>` on stdout once the cluster listens and the topics
exist (replication factor min(3, brokers)). Then reads commands, one per line, answering each
with one line `ok ...` or `error ...`:

    leader <topic> <partition> <broker-id>    move the partition's leader to that broker
    down <broker-id> / up <broker-id>          take a broker's listener down / up again

The cluster lives until stdin closes.
"""

import ctypes
import ctypes.util
import sys

RD_KAFKA_PRODUCER = 0


def load_librdkafka() -> ctypes.CDLL:
    path = ctypes.util.find_library("rdkafka") or "librdkafka.so.1"
    lib = ctypes.CDLL(path)
    lib.rd_kafka_conf_new.restype = ctypes.c_void_p
    lib.rd_kafka_conf_set.argtypes = [
        ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t,
    ]
    lib.rd_kafka_conf_set.restype = ctypes.c_int
    lib.rd_kafka_new.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.rd_kafka_new.restype = ctypes.c_void_p
    lib.rd_kafka_handle_mock_cluster.argtypes = [ctypes.c_void_p]
    lib.rd_kafka_handle_mock_cluster.restype = ctypes.c_void_p
    lib.rd_kafka_mock_cluster_bootstraps.argtypes = [ctypes.c_void_p]
    lib.rd_kafka_mock_cluster_bootstraps.restype = ctypes.c_char_p
    lib.rd_kafka_mock_topic_create.argtypes = [
        ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int,
    ]
    lib.rd_kafka_mock_topic_create.restype = ctypes.c_int
    lib.rd_kafka_mock_partition_set_leader.argtypes = [
        ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32, ctypes.c_int32,
    ]
    lib.rd_kafka_mock_partition_set_leader.restype = ctypes.c_int
    lib.rd_kafka_mock_broker_set_down.argtypes = [ctypes.c_void_p, ctypes.c_int32]
    lib.rd_kafka_mock_broker_set_down.restype = ctypes.c_int
    lib.rd_kafka_mock_broker_set_up.argtypes = [ctypes.c_void_p, ctypes.c_int32]
    lib.rd_kafka_mock_broker_set_up.restype = ctypes.c_int
    lib.rd_kafka_err2name.argtypes = [ctypes.c_int]
    lib.rd_kafka_err2name.restype = ctypes.c_char_p
    lib.rd_kafka_destroy.argtypes = [ctypes.c_void_p]
    return lib


def main(argv: list[str]) -> int:
    if len(argv) < 2 or not argv[1].isdigit() or int(argv[1]) < 1:
        print("usage: kafka_mock_cluster.py <brokers> [topic:partitions ...]", file=sys.stderr)
        return 2
    brokers = int(argv[1])
    lib = load_librdkafka()
    errstr = ctypes.create_string_buffer(512)
    conf = lib.rd_kafka_conf_new()
    settings = {"test.mock.num.brokers": str(brokers), "log_level": "3"}
    for key, value in settings.items():
        if lib.rd_kafka_conf_set(conf, key.encode(), value.encode(), errstr, 512) != 0:
            print(f"error {key}: {errstr.value.decode()}", file=sys.stderr)
            return 1
    rk = lib.rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, 512)
    if not rk:
        print(f"error rd_kafka_new: {errstr.value.decode()}", file=sys.stderr)
        return 1
    mcluster = lib.rd_kafka_handle_mock_cluster(rk)
    if not mcluster:
        print("error: librdkafka started no mock cluster", file=sys.stderr)
        return 1

    def err_name(code: int) -> str:
        return lib.rd_kafka_err2name(code).decode()

    for spec in argv[2:]:
        topic, _, partitions = spec.partition(":")
        err = lib.rd_kafka_mock_topic_create(
            mcluster, topic.encode(), int(partitions or "1"), min(3, brokers),
        )
        if err != 0:
            print(f"error creating {topic}: {err_name(err)}", file=sys.stderr)
            return 1

    bootstraps = lib.rd_kafka_mock_cluster_bootstraps(mcluster).decode()
    print(f"bootstrap {bootstraps}", flush=True)

    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            if words[0] == "leader" and len(words) == 4:
                err = lib.rd_kafka_mock_partition_set_leader(
                    mcluster, words[1].encode(), int(words[2]), int(words[3]),
                )
            elif words[0] in ("down", "up") and len(words) == 2:
                fn = lib.rd_kafka_mock_broker_set_down if words[0] == "down" \
                    else lib.rd_kafka_mock_broker_set_up
                err = fn(mcluster, int(words[1]))
            else:
                print(f"error unknown command: {line.strip()}", flush=True)
                continue
        except ValueError as e:
            print(f"error {e}", flush=True)
            continue
        if err == 0:
            print(f"ok {line.strip()}", flush=True)
        else:
            print(f"error {err_name(err)}: {line.strip()}", flush=True)

    lib.rd_kafka_destroy(rk)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
