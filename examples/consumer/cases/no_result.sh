#!/bin/sh
# A Case that does its work and writes no result.json: the run must fail, never pass.
echo "did something, reported nothing"
