#!/bin/sh
# The container image's entrypoint: async-ingest with the arguments given (default /data),
# after one check: a source under /data with nothing mounted there gets a hint on how to
# mount it, instead of "no such file".  Exits with async-ingest's status (exec).
if [ ! -e /data ]; then
  for arg in "$@"; do
    case $arg in
      /data | /data/*)
        echo "async-ingest: error: $arg: nothing is mounted at /data; mount the files to land, such as docker run -v \"\$PWD/data:/data:ro\" ... async-ingest" >&2
        exit 2
        ;;
    esac
  done
fi
exec async-ingest "$@"
