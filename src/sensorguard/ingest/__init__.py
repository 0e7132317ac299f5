"""Getting readings in: validation, publishing to the stream, HTTP and MQTT front doors, the writer."""
