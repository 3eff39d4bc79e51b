{#- The catalog of `dbt docs generate`: every column of the schemas dbt
    built, from information_schema (column types are Arrow's names there;
    the adapter turns them into SQL names, impl.py). -#}
{% macro quiver__get_catalog(information_schema, schemas) -%}
  {% set query %}
    select
      c.table_catalog as table_database,
      c.table_schema as table_schema,
      c.table_name as table_name,
      case when t.table_type = 'VIEW' then 'VIEW' else 'BASE TABLE' end as table_type,
      cast(null as varchar) as table_comment,
      c.column_name as column_name,
      c.ordinal_position + 1 as column_index,
      c.data_type as column_type,
      cast(null as varchar) as column_comment,
      cast(null as varchar) as table_owner
    from information_schema.columns c
    join information_schema.tables t
      on c.table_catalog = t.table_catalog
     and c.table_schema = t.table_schema
     and c.table_name = t.table_name
    where c.table_catalog = 'quiver'
      and c.table_schema in (
        {%- for schema in schemas -%}
          '{{ schema }}'{%- if not loop.last %}, {% endif -%}
        {%- endfor -%}
      )
    order by c.table_schema, c.table_name, c.ordinal_position
  {% endset %}
  {{ return(run_query(query)) }}
{%- endmacro %}
