"""kafka-python (Debian's python3-kafka) consumer-group phases for broker_kafka_python_test.ts.

usage: kafka_python_group.py <bootstrap> <phase>
  produce: produce 100 messages "m0".."m99" to topic "py" (1 partition), acks=all
  first:   consume 40 messages in group "pygroup", commit, close; print offsets
  resume:  consume the rest in group "pygroup"; print offsets
Prints one JSON line: {"offsets": [...], "committed": n}
"""
import json
import sys

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

bootstrap, phase = sys.argv[1], sys.argv[2]
tp = TopicPartition("py", 0)

if phase == "produce":
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for i in range(100):
        producer.send("py", key=b"k%d" % (i % 5), value=b"m%d" % i, partition=0)
    producer.flush()
    producer.close()
    print(json.dumps({"offsets": [], "committed": -1}))
    sys.exit(0)

consumer = KafkaConsumer(
    bootstrap_servers=bootstrap,
    group_id="pygroup",
    enable_auto_commit=False,
    auto_offset_reset="earliest",
    consumer_timeout_ms=2000,
    session_timeout_ms=6000,
    heartbeat_interval_ms=500,
)
consumer.subscribe(["py"])
offsets = []
limit = 40 if phase == "first" else 1000
for message in consumer:
    if message.value != b"m%d" % message.offset:
        raise SystemExit("value %r at offset %d" % (message.value, message.offset))
    offsets.append(message.offset)
    if len(offsets) >= limit:
        break
consumer.commit()
committed = consumer.committed(tp)
consumer.close()
print(json.dumps({"offsets": offsets, "committed": committed}))
