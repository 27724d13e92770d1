"""The ticketing spec the operations and dashboard tests share: the platform (the truth) against
the box office's till (the corrected system)."""

TICKETS_SPEC = {
    "name": "tickets", "description": "test", "owner": "tests", "schedule": "@daily",
    "sources": [
        {"name": name, "type": "sftp_csv", "connection": f"{name}_read", "path": "/x.csv",
         "fields": {"record_key": "id", "amount": "amount", "currency": "currency", "occurred_at": "at"}}
        for name in ("platform", "box_office")
    ],
    "reconcile": {"pairs": [{
        "left": "platform", "right": "box_office",
        "compare": {"status": {"right": {"sold": "paid", "refunded": "refunded"}}},
    }]},
    "corrections": {
        "source": "box_office", "connection": "box_office_writer", "table": "public.ticket_sales",
        "key": "order_ref", "row_id": "sale_id", "order_by": "sold_at",
        "columns": {"amount": "amount", "currency": "currency", "status": "status",
                    "occurred_at": "sold_at"},
        "status_values": {"paid": "sold"}, "insert_values": {"till": "recon"},
        "insert_row_id": "recon-{record_key}",
    },
}  # fmt: skip
