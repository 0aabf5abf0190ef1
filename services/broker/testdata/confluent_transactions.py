"""confluent-kafka-python (Debian's python3-confluent-kafka, librdkafka) transactional producer.

usage: confluent_transactions.py <bootstrap> <prefix>
Against topics <prefix>-in and <prefix>-out (one partition each): a committed and an aborted
transaction; a consume-transform-produce transaction that commits its input offsets with
send_offsets_to_transaction; a second producer with the same transactional.id that fences the
first. Prints one JSON object: what a read_committed and a read_uncommitted consumer read of
<prefix>-out, the group's committed input offset, and whether the first producer was fenced.
"""
import json
import sys

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

bootstrap, prefix = sys.argv[1:3]
topic_in, topic_out = f"{prefix}-in", f"{prefix}-out"
result = {}


def transactional(tid):
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "transactional.id": tid,
        "transaction.timeout.ms": 60000,
    })
    producer.init_transactions(30)
    return producer


plain = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
for i in range(3):
    plain.produce(topic_in, value=f"in-{i}".encode())
plain.flush(30)

first = transactional(f"{prefix}-tid")
first.begin_transaction()
first.produce(topic_out, value=b"c1")
first.produce(topic_out, value=b"c2")
first.commit_transaction(30)
first.begin_transaction()
first.produce(topic_out, value=b"x1")
first.flush(30)
first.abort_transaction(30)

# Consume-transform-produce: the input offsets commit with the outputs or not at all.
consumer = Consumer({
    "bootstrap.servers": bootstrap,
    "group.id": f"{prefix}-group",
    "enable.auto.commit": False,
    "auto.offset.reset": "earliest",
    "isolation.level": "read_committed",
})
consumer.subscribe([topic_in])
inputs = []
while len(inputs) < 3:
    message = consumer.poll(1.0)
    if message is not None and message.error() is None:
        inputs.append(message.value().decode())
first.begin_transaction()
for value in inputs:
    first.produce(topic_out, value=f"out-{value}".encode())
first.send_offsets_to_transaction(
    consumer.position(consumer.assignment()), consumer.consumer_group_metadata(), 30)
first.commit_transaction(30)
consumer.close()

# A second producer with the same transactional.id fences the first.
second = transactional(f"{prefix}-tid")
try:
    first.begin_transaction()
    first.produce(topic_out, value=b"zombie")
    first.commit_transaction(30)
    result["fenced"] = False
except KafkaException as error:
    result["fenced"] = error.args[0].fatal() or "fenced" in str(error).lower()
second.begin_transaction()
second.produce(topic_out, value=b"c3")
second.commit_transaction(30)


def read_all(isolation):
    reader = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"{prefix}-reader-{isolation}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": isolation,
        "enable.partition.eof": True,
    })
    reader.assign([TopicPartition(topic_out, 0, 0)])
    values = []
    while True:
        message = reader.poll(5.0)
        if message is None:
            break
        if message.error() is not None:
            if message.error().code() == -191:  # _PARTITION_EOF
                break
            continue
        values.append(message.value().decode())
    reader.close()
    return values


result["committed"] = read_all("read_committed")
result["uncommitted"] = read_all("read_uncommitted")
checker = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{prefix}-group"})
result["groupOffset"] = checker.committed([TopicPartition(topic_in, 0)], 30)[0].offset
checker.close()
print(json.dumps(result), flush=True)
