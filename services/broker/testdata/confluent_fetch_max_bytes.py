"""confluent-kafka (Debian's python3-confluent-kafka, librdkafka): fetch.max.bytes bounds the
whole Fetch response, as in librdkafka's test 0082.

usage: confluent_fetch_max_bytes.py <bootstrap> <topic with 3 partitions>
Produces 3 messages of 900 KiB to each partition, then consumes them with
max.partition.fetch.bytes=20000000, fetch.max.bytes=1000000 and receive.message.max.bytes=1000512:
a response over 1000512 bytes is refused by the client. Prints one JSON line:
{"consumed": 9, "errors": []} when every message arrived within 60 s.
"""
import json
import sys
import time

from confluent_kafka import Consumer, Producer

bootstrap, topic = sys.argv[1], sys.argv[2]
producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
for partition in range(3):
    for _ in range(3):
        producer.produce(topic, b"x" * (900 * 1024), partition=partition)
        producer.flush()

errors = []
consumer = Consumer({
    "bootstrap.servers": bootstrap,
    "group.id": "fetch-max-bytes",
    "auto.offset.reset": "earliest",
    "max.partition.fetch.bytes": 20000000,
    "fetch.max.bytes": 1000000,
    "receive.message.max.bytes": 1000512,
    "error_cb": lambda e: errors.append(e.str()),
})
consumer.subscribe([topic])
consumed = 0
deadline = time.time() + 60
while consumed < 9 and time.time() < deadline:
    message = consumer.poll(0.5)
    if message is not None and not message.error():
        consumed += 1
consumer.close()
print(json.dumps({"consumed": consumed, "errors": sorted(set(errors))[:3]}))
