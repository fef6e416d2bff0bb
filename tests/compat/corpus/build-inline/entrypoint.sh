#!/bin/sh
cat /greeting
exec "$@"
