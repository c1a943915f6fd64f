"""Validates FHIR Bundles (JSON files named on the command line) with an independent
implementation, PyPI's fhir.resources 6.x (FHIR R4B models, structurally R4 for the
resources Speciosa emits). Exits non-zero, naming the file and the problem, on failure."""
import json
import sys

from fhir.resources.bundle import Bundle


def main(paths):
    failed = False
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        try:
            bundle = Bundle.parse_obj(data)
        except Exception as error:  # pydantic's ValidationError lists every problem
            print(f"{path}: invalid FHIR: {error}", file=sys.stderr)
            failed = True
            continue
        kinds = [entry.resource.resource_type for entry in bundle.entry or []]
        print(f"{path}: valid Bundle with {', '.join(kinds)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
