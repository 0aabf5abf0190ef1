"""confluent-kafka (Debian's python3-confluent-kafka, librdkafka): a standalone commit into a
group that has an active member.

usage: confluent_admin_commit_active_group.py <bootstrap> <topic>
Consumer A subscribes to <topic> in group "active-group" and polls until it owns partition 0.
Consumer B, in the same group but with assign() only (no membership: generation -1, no member
id, as an admin client's AlterConsumerGroupOffsets), commits offset 1 of partition 0. Prints one
JSON line with the error B's commit got: {"error": "UNKNOWN_MEMBER_ID"} (what Kafka answers:
the group is not only storing offsets), or {"error": null} if the commit was accepted.
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

bootstrap, topic = sys.argv[1], sys.argv[2]
common = {"bootstrap.servers": bootstrap, "group.id": "active-group", "enable.auto.commit": False}

member = Consumer({**common, "session.timeout.ms": 10000})
member.subscribe([topic])
deadline = time.time() + 30
while not member.assignment():
    if time.time() > deadline:
        raise SystemExit("consumer A got no assignment within 30 s")
    member.poll(0.2)

outsider = Consumer(common)
outsider.assign([TopicPartition(topic, 0)])
error = None
try:
    outsider.commit(offsets=[TopicPartition(topic, 0, 1)], asynchronous=False)
except KafkaException as e:
    error = e.args[0].name()
outsider.close()
member.close()
print(json.dumps({"error": error}))
