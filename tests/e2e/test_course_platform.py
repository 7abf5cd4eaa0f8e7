"""Course platform: purchases grant Discord role entitlements, linking Discord merges the roles,
live events sync to Google Calendar."""

import json
import os
import sqlite3

import harness
from domain_case import DomainCase

GUILD = "guild_e2e"


def event(name):
    with open(os.path.join(harness.ROOT, "examples/course-platform/events", name)) as f:
        return json.load(f)


class CoursePlatformTest(DomainCase):
    EXAMPLE = "course-platform"
    REPLACEMENTS = [(r"sleep: 10s", "sleep: 1s")]
    SECRETS = {"DISCORD_API_URL": "{api}/discord", "DISCORD_GUILD_ID": GUILD,
               "DISCORD_BOT_TOKEN": "bot_e2e", "GOOGLE_API_URL": "{api}/gcal",
               "GOOGLE_CALENDAR_ID": "cal_e2e", "GOOGLE_CALENDAR_TOKEN": "gtok_e2e"}

    def test_purchase_then_link_discord_merges_roles(self):
        self.api.discord_members[(GUILD, "d-tok42")] = {"roles": ["role_manual"]}
        self.service.send(event("purchase.created.json"))
        purchase = self.service.wait_run("example-course-purchase", {"purchaseId": "pur_9001"})
        self.assertEqual(self.steps(purchase["id"])["add-role"]["status"], "skipped")
        self.assertEqual(self.db("SELECT user_id, json_extract(metadata, '$.discordRoleId') AS role "
                                 "FROM entitlements WHERE id = 'pur_9001'"),
                         [{"user_id": "usr_42", "role": "role_cohort3"}])
        mail = self.mail_to("lin@example.com")
        self.assertEqual([m["subject"] for m in mail], ["Welcome to AI Engineering Cohort 3"])
        self.assertEqual(mail[0]["from"], "Courses <courses@example.com>")

        self.service.send(event("provider-account-linked.json"))
        run = self.service.wait_run("example-course-discord-linked", {}, timeout=90)
        self.assertEqual(run["output"], {"discordUserId": "d-tok42", "rolesAdded": ["role_cohort3"]})
        member_path = "^/discord/api/v10/guilds/%s/members/d-tok42$" % GUILD
        self.assert_idempotency_keys(self.api.calls("PUT", member_path), run["id"], "add-to-guild")
        self.assertEqual(self.api.calls("PUT", member_path)[0]["body"], {"access_token": "tok42"})
        patch = self.api.calls("PATCH", member_path)
        self.assert_idempotency_keys(patch, run["id"], "update-roles")
        self.assertEqual(patch[0]["body"], {"roles": ["role_manual", "role_cohort3"]})
        self.assertEqual(patch[0]["headers"]["authorization"], "Bot bot_e2e")
        self.assertEqual(self.db("SELECT provider_account_id FROM accounts WHERE user_id = 'usr_42'"),
                         [{"provider_account_id": "d-tok42"}])

        # A later purchase by the linked user adds its role directly.
        con = sqlite3.connect(self.app_db)
        con.execute("INSERT INTO products VALUES ('prod_ws', 'Workshop', 'role_ws')")
        con.commit()
        con.close()
        self.service.send({"name": "purchase/created", "data": {
            "purchaseId": "pur_9002", "userId": "usr_42", "productId": "prod_ws", "email": "lin@example.com"}})
        second = self.service.wait_run("example-course-purchase", {"purchaseId": "pur_9002"})
        puts = self.api.calls("PUT", "^/discord/api/v10/guilds/%s/members/d-tok42/roles/role_ws$" % GUILD)
        self.assert_idempotency_keys(puts, second["id"], "add-role")
        self.assertEqual(self.api.discord_members[(GUILD, "d-tok42")]["roles"],
                         ["role_manual", "role_cohort3", "role_ws"])

    def test_live_event_syncs_to_calendar(self):
        self.service.send(event("resource.created.json"))
        created = self.service.wait_run("example-course-calendar-sync", {"id": "evt_live_1"})
        posts = self.api.calls("POST", "^/gcal/calendar/v3/calendars/cal_e2e/events$")
        self.assert_idempotency_keys(posts, created["id"], "create")
        self.assertEqual(posts[0]["body"]["summary"], "Live Q&A")
        self.assertEqual(posts[0]["body"]["start"], {"dateTime": "2026-12-10T17:00:00Z", "timeZone": "America/New_York"})
        calendar_id = self.db("SELECT calendar_id FROM content_resources WHERE id = 'evt_live_1'")[0]["calendar_id"]
        self.assertTrue(calendar_id.startswith("gcal_"))

        con = sqlite3.connect(self.app_db)
        con.execute("UPDATE content_resources SET title = 'Live Q&A (moved)' WHERE id = 'evt_live_1'")
        con.commit()
        con.close()
        self.service.send({"name": "resource/updated", "data": {"id": "evt_live_1", "type": "event"}})
        harness.wait_until(lambda: len([r for r in self.service.runs("example-course-calendar-sync")
                                        if r["status"] == "completed"]) == 2, what="update run")
        self.assertEqual(self.api.calendar_events[calendar_id]["summary"], "Live Q&A (moved)")
        self.assertEqual(len(self.api.calls("POST", "^/gcal/")), 1)


if __name__ == "__main__":
    import sys
    sys.exit(harness.run_suite(["test_course_platform"]))
