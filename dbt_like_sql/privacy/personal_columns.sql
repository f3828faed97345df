-- Every column of the warehouse's tables that can tie a row to one customer, found in the catalog (so a
-- table added later is covered without being listed): a pseudonymised user id (`user_id`), a turn
-- (`event_id`, or a name ending in `_event_id`), or a list of pseudonymised user ids (a VARCHAR[] named
-- `users`). `has_day`: the table has a DATE column `day` (its rows of a reused event id are matched by day
-- as well). Views are left out (they read these tables).
WITH columns AS (
    SELECT c.table_schema, c.table_name, c.column_name, c.data_type,
           c.column_name = 'event_id' OR c.column_name LIKE '%\_event\_id' ESCAPE '\' AS is_event
    FROM information_schema.columns AS c
    JOIN information_schema.tables AS t
      ON t.table_catalog = c.table_catalog AND t.table_schema = c.table_schema AND t.table_name = c.table_name
    WHERE t.table_type = 'BASE TABLE' AND c.table_catalog = current_database()
),
personal AS (
    SELECT table_schema, table_name, column_name,
           CASE WHEN column_name = 'user_id' THEN 'user' WHEN is_event THEN 'event' ELSE 'users' END AS kind
    FROM columns
    WHERE (column_name = 'user_id' AND data_type = 'VARCHAR')
       OR (is_event AND data_type = 'VARCHAR')
       OR (column_name = 'users' AND data_type = 'VARCHAR[]')
)
SELECT p.table_schema, p.table_name, p.column_name, p.kind,
       EXISTS (SELECT 1 FROM columns AS d
               WHERE d.table_schema = p.table_schema AND d.table_name = p.table_name
                 AND d.column_name = 'day' AND d.data_type = 'DATE') AS has_day
FROM personal AS p
ORDER BY p.table_schema, p.table_name, p.kind DESC, p.column_name;
