"""Promoted models scoring live data: the champions, the live scorer, the stream scorer and the
service core the BentoML service in ``serving/`` wraps."""
