"""confluent-kafka-python (Debian's python3-confluent-kafka, librdkafka) static group member.

usage: confluent_static_member.py <bootstrap> <topic> <group> <group.instance.id>
Joins <group> with the given group.instance.id (KIP-345) and a long session timeout, and
prints one JSON line per rebalance callback: {"event": "assign"|"revoke", "partitions": [...]}.
Runs until killed; a static member sends no LeaveGroup, so a SIGKILL is what a crash is.
"""
import json
import sys

from confluent_kafka import Consumer

bootstrap, topic, group, instance = sys.argv[1:5]


def report(event, partitions):
    print(json.dumps({"event": event, "partitions": sorted(p.partition for p in partitions)}),
          flush=True)


consumer = Consumer({
    "bootstrap.servers": bootstrap,
    "group.id": group,
    "group.instance.id": instance,
    "session.timeout.ms": 45000,
    "heartbeat.interval.ms": 500,
    "enable.auto.commit": False,
    "auto.offset.reset": "earliest",
})
consumer.subscribe(
    [topic],
    on_assign=lambda _c, ps: report("assign", ps),
    on_revoke=lambda _c, ps: report("revoke", ps),
)
while True:
    consumer.poll(0.2)
