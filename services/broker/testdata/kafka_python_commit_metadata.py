"""kafka-python (Debian's python3-kafka): commits offsets with metadata, then reads them back.

usage: kafka_python_commit_metadata.py <bootstrap> <topic>
Commits offset 3 with metadata "checkpoint-a" for <topic> partition 0 in group "meta-group",
then prints one JSON line with what OffsetFetch returns through the admin client:
{"offset": 3, "metadata": "checkpoint-a"}
"""
import json
import sys

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

bootstrap, topic = sys.argv[1], sys.argv[2]
tp = TopicPartition(topic, 0)

consumer = KafkaConsumer(
    bootstrap_servers=bootstrap,
    group_id="meta-group",
    enable_auto_commit=False,
)
consumer.assign([tp])
consumer.commit({tp: OffsetAndMetadata(3, "checkpoint-a")})
consumer.close()

admin = KafkaAdminClient(bootstrap_servers=bootstrap)
offsets = admin.list_consumer_group_offsets("meta-group")
admin.close()
committed = offsets[tp]
print(json.dumps({"offset": committed.offset, "metadata": committed.metadata}))
