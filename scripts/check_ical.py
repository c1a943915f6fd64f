"""Fetches a Speciosa calendar feed without a session and checks it with PyPI's icalendar:
it parses, names a VTIMEZONE for every TZID, and has a daily check-in VEVENT with an RRULE
and a VALARM. Usage: check_ical.py URL"""
import sys
import urllib.request

import icalendar

with urllib.request.urlopen(sys.argv[1]) as response:
    assert response.headers.get_content_type() == "text/calendar", response.headers
    calendar = icalendar.Calendar.from_ical(response.read())

zones = {str(z["TZID"]) for z in calendar.walk("VTIMEZONE")}
check_ins = []
for event in calendar.walk("VEVENT"):
    start = event["DTSTART"]
    tzid = start.params.get("TZID")
    assert tzid is None or tzid in zones, f"no VTIMEZONE for {tzid}"
    assert event.walk("VALARM"), f"no VALARM in {event['UID']}"
    if str(event["UID"]).startswith("checkin-"):
        check_ins.append(event)
assert len(check_ins) == 1, check_ins
rule = check_ins[0]["RRULE"]
assert rule["FREQ"] == ["DAILY"], rule
print("ok:", len(calendar.walk("VEVENT")), "events")
