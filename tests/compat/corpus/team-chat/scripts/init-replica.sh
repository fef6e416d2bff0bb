#!/bin/bash
set -e
mongosh --host "$MONGO_HOST" --quiet --eval '
try { rs.status() } catch (e) { rs.initiate({_id: "rs0", members: [{_id: 0, host: "'"$MONGO_HOST"':27017"}]}) }
'
