{#- dbt's adapter macros in quiver's SQL. quiver's one catalog is "quiver";
    schemas and relations are listed from information_schema. -#}

{% macro quiver__create_schema(relation) -%}
  {%- call statement('create_schema') -%}
    create schema if not exists {{ relation.without_identifier() }}
  {%- endcall -%}
{% endmacro %}

{% macro quiver__drop_schema(relation) -%}
  {%- call statement('drop_schema') -%}
    drop schema if exists {{ relation.without_identifier() }} cascade
  {%- endcall -%}
{% endmacro %}

{% macro quiver__list_schemas(database) -%}
  {% set sql %}
    select schema_name from information_schema.schemata
    where catalog_name = 'quiver' and schema_name <> 'information_schema'
  {% endset %}
  {{ return(run_query(sql)) }}
{% endmacro %}

{% macro quiver__check_schema_exists(information_schema, schema) -%}
  {% set sql %}
    select count(*) from information_schema.schemata
    where catalog_name = 'quiver' and schema_name = '{{ schema }}'
  {% endset %}
  {{ return(run_query(sql)) }}
{% endmacro %}

{% macro quiver__list_relations_without_caching(schema_relation) %}
  {% call statement('list_relations_without_caching', fetch_result=True) -%}
    select
      table_catalog as database,
      table_name as name,
      table_schema as schema,
      case when table_type = 'VIEW' then 'view' else 'table' end as type
    from information_schema.tables
    where table_catalog = 'quiver' and table_schema = '{{ schema_relation.schema }}'
  {% endcall %}
  {{ return(load_result('list_relations_without_caching').table) }}
{% endmacro %}

{#- A temporary relation is a table of the model's schema, dropped when the
    node's connection closes: the server keeps no session between
    statements (connections.py). -#}
{% macro quiver__create_table_as(temporary, relation, compiled_code, language='sql') -%}
  {%- if language != 'sql' -%}
    {{ exceptions.raise_compiler_error("quiver runs SQL models only, not " ~ language) }}
  {%- endif -%}
  {%- if temporary -%}{%- do adapter.remember_temporary(relation) -%}{%- endif -%}
  {%- set sql_header = config.get('sql_header', none) -%}
  {{ sql_header if sql_header is not none }}
  create {% if temporary %}or replace {% endif %}table {{ relation }} as (
    {{ compiled_code }}
  )
{%- endmacro %}

{% macro quiver__create_view_as(relation, sql) -%}
  {%- set sql_header = config.get('sql_header', none) -%}
  {{ sql_header if sql_header is not none }}
  create view {{ relation }} as (
    {{ sql }}
  )
{%- endmacro %}

{% macro quiver__rename_relation(from_relation, to_relation) -%}
  {% call statement('rename_relation') -%}
    alter {{ 'view' if from_relation.is_view else 'table' }} {{ from_relation }}
    rename to {{ to_relation.include(database=False, schema=False) }}
  {%- endcall %}
{% endmacro %}

{% macro quiver__drop_relation(relation) -%}
  {% call statement('drop_relation', auto_begin=False) -%}
    drop {{ 'view' if relation.is_view else 'table' }} if exists {{ relation }}
  {%- endcall %}
{% endmacro %}

{% macro quiver__truncate_relation(relation) -%}
  {% call statement('truncate_relation') -%}
    truncate {{ relation }}
  {%- endcall %}
{% endmacro %}

{#- quiver's ALTER TABLE takes one change at a time. -#}
{% macro quiver__alter_relation_add_remove_columns(relation, add_columns, remove_columns) %}
  {% for column in add_columns or [] %}
    {% do run_query("alter table " ~ relation ~ " add column " ~ adapter.quote(column.name) ~ " " ~ column.data_type) %}
  {% endfor %}
  {% for column in remove_columns or [] %}
    {% do run_query("alter table " ~ relation ~ " drop column " ~ adapter.quote(column.name)) %}
  {% endfor %}
{% endmacro %}

{#- Microseconds: what Delta Lake keeps and Python's datetime holds. -#}
{% macro quiver__current_timestamp() -%}
  cast(now() as timestamp(6))
{%- endmacro %}

{% macro quiver__snapshot_get_time() -%}
  cast(now() as timestamp(6))
{%- endmacro %}

{% macro quiver__make_temp_relation(base_relation, suffix) %}
  {#- In the model's schema (not a session's), as the table it becomes. -#}
  {%- set tmp_identifier = base_relation.identifier ~ suffix -%}
  {{ return(base_relation.incorporate(path={"identifier": tmp_identifier})) }}
{% endmacro %}

{#- Seeds: the table from dbt's inferred types (or the seed's column_types),
    the rows through adbc_ingest. -#}
{% macro quiver__load_csv_rows(model, agate_table) %}
  {% set rows = adapter.load_seed(this, agate_table) %}
  {{ return("-- " ~ agate_table.rows | length ~ " rows through adbc_ingest") }}
{% endmacro %}

{% macro quiver__get_binding_char() %}
  {{ return('$') }}
{% endmacro %}

{#- Incremental models with a unique_key and no strategy: delete+insert, as
    on PostgreSQL and DuckDB; without a key, append. -#}
{% macro quiver__get_incremental_default_sql(arg_dict) %}
  {% if arg_dict["unique_key"] %}
    {% do return(get_incremental_delete_insert_sql(arg_dict)) %}
  {% else %}
    {% do return(get_incremental_append_sql(arg_dict)) %}
  {% endif %}
{% endmacro %}

{#- delete+insert: rows of the target whose key some new row has, deleted
    with EXISTS (quiver has no `(a, b) IN (SELECT ...)`), then the new rows
    inserted: two statements, two commits. -#}
{% macro quiver__get_delete_insert_merge_sql(target, source, unique_key, dest_columns, incremental_predicates) -%}
  {%- set dest_cols_csv = get_quoted_csv(dest_columns | map(attribute="name")) -%}
  {%- if unique_key -%}
    {%- set keys = [unique_key] if unique_key is string else unique_key -%}
    {%- set target_name = adapter.quote(target.identifier) -%}
    delete from {{ target }}
    where exists (
        select 1 from {{ source }} as DBT_INTERNAL_SOURCE
        where {% for key in keys | unique %}DBT_INTERNAL_SOURCE.{{ key }} = {{ target_name }}.{{ key }}{% if not loop.last %} and {% endif %}{% endfor %}
    )
    {%- for predicate in incremental_predicates or [] %}
      and {{ predicate | replace('DBT_INTERNAL_DEST.', target_name ~ '.') | replace('dbt_internal_dest.', target_name ~ '.') }}
    {%- endfor -%};
  {%- endif %}
    insert into {{ target }} ({{ dest_cols_csv }})
    (
        select {{ dest_cols_csv }}
        from {{ source }}
    )
{%- endmacro %}
