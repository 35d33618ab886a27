"""Validates `rampart audit --oscal`'s document with compliance-trestle's OSCAL models
(generated from NIST's OSCAL JSON schema, version 1.2.x), an implementation that is not ours.

usage: oscal_validate.py FILE.json
"""

import json
import sys


def main():
    try:
        from trestle.oscal.assessment_results import AssessmentResults
        from trestle.oscal import OSCAL_VERSION_REGEX
    except ImportError:
        print("needs compliance-trestle from PyPI: run scripts/test.sh", file=sys.stderr)
        sys.exit(3)
    import re

    with open(sys.argv[1]) as f:
        doc = json.load(f)
    ar = doc["assessment-results"]
    version = ar["metadata"]["oscal-version"]
    assert re.match(OSCAL_VERSION_REGEX, version), "oscal-version %s is not the models' %s" % (
        version, OSCAL_VERSION_REGEX)
    AssessmentResults.model_validate(ar)
    methods = {m for o in ar["results"][0]["observations"] for m in o["methods"]}
    assert methods <= {"EXAMINE", "INTERVIEW", "TEST", "UNKNOWN"}, methods
    print("findings", len(ar["results"][0]["findings"]))
    print("ok")


if __name__ == "__main__":
    main()
